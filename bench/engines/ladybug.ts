/**
 * ladybug-store adapter: the engine under test.
 *
 * The store is loaded with a dynamic import of ../../src/index.js (resolved to
 * src/index.ts under tsx and to dist/src/index.js after tsc), so the harness
 * builds and runs while the engine is still being written: until src/index.ts
 * exports `openStore`, loading fails and the report lists ladybug as skipped.
 *
 * The types below restate the public API the harness relies on; they are
 * checked at run time only by the calls themselves.
 */
import { join } from 'node:path';
import type { EngineDefinition, EngineHandle, EngineStats, Entry, ScanRange } from './engine.js';

type StoreKey = string | Uint8Array;

interface BatchOperation {
  readonly type: 'put' | 'del';
  readonly key: StoreKey;
  readonly value?: unknown;
}

interface ScanOptions {
  readonly gte?: StoreKey;
  readonly limit?: number;
}

interface LadybugStore {
  put(key: StoreKey, value: unknown): Promise<{ version: number }>;
  get(key: StoreKey, options?: { asOf?: number }): Promise<unknown>;
  batch(operations: readonly BatchOperation[]): Promise<{ version: number }>;
  scan(options: ScanOptions): AsyncIterable<readonly [StoreKey, unknown]>;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

interface LadybugModule {
  openStore(directory: string, options?: Record<string, unknown>): Promise<LadybugStore>;
}

/**
 * Options always passed to openStore: keys are binary (as for the peers), so
 * scans return Uint8Array keys instead of decoding them as UTF-8. Everything
 * else (syncMode 'threadpool', segment size, ...) is the store's default
 * unless overridden with --ladybug-options.
 */
const BASE_STORE_OPTIONS: Readonly<Record<string, unknown>> = { keyEncoding: 'binary' };

export function ladybugEngine(extraStoreOptions: Readonly<Record<string, unknown>> = {}): EngineDefinition {
  const storeOptions = { ...BASE_STORE_OPTIONS, ...extraStoreOptions };
  return {
    id: 'ladybug',
    label: 'ladybug-store',
    role: 'subject',
    settings: [
      `openStore(dir, ${JSON.stringify(storeOptions)}); every other option at the store's default`,
      'put: `await store.put(key, value)` — resolves once fdatasync\'d and visible',
      'batch: `await store.batch([{ type: "put", key, value } x N])`',
      'get: `await store.get(key)`; scan: `for await (... of store.scan({ gte, limit }))`',
    ],
    supportsReads: true,
    concurrentPutMode: 'in-flight-puts',
    concurrencyNote: '64 puts in flight; the store group-commits everything queued into one WAL write + fdatasync',
    async load() {
      const module = await importStoreModule();
      return async (directory: string) => ladybugHandle(await module.openStore(join(directory, 'store'), storeOptions));
    },
  };
}

async function importStoreModule(): Promise<LadybugModule> {
  const specifier: string = new URL('../../src/index.js', import.meta.url).href;
  const module = (await import(specifier)) as Partial<LadybugModule>;
  if (typeof module.openStore !== 'function') throw new Error('src/index does not export openStore');
  return module as LadybugModule;
}

function ladybugHandle(store: LadybugStore): EngineHandle {
  return {
    async put(key, value) {
      await store.put(key, value);
    },
    async batch(entries: readonly Entry[]) {
      await store.batch(entries.map((entry) => ({ type: 'put' as const, key: entry.key, value: entry.value })));
    },
    get: (key) => store.get(key),
    getIsSynchronous: false,
    async scan(range: ScanRange) {
      let count = 0;
      for await (const _entry of store.scan({ gte: range.gte, limit: range.limit })) count += 1;
      return count;
    },
    stats: () => numericFields(store.stats()),
    close: () => store.close(),
  };
}

function numericFields(stats: Record<string, unknown>): EngineStats {
  const numeric: EngineStats = {};
  for (const [name, value] of Object.entries(stats)) {
    if (typeof value === 'number' && Number.isFinite(value)) numeric[name] = value;
  }
  return numeric;
}
