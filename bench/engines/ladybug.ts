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
import type { EngineDefinition, EngineHandle, EngineStats, Entry, ReadModifyWrite, ScanRange, TransactResult, TransactionVariant } from './engine.js';

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

interface LadybugTransaction {
  get(key: StoreKey): Promise<unknown>;
  put(key: StoreKey, value: unknown): void;
}

interface TransactionOptions {
  readonly isolation: 'serializable' | 'snapshot';
  readonly retries: number;
}

interface LadybugSerialTransaction {
  get(key: StoreKey): unknown;
  put(key: StoreKey, value: unknown): void;
}

interface LadybugStore {
  transactionSync<Result>(body: (tx: LadybugSerialTransaction) => Result): Promise<Result>;
  transaction<Result>(body: (tx: LadybugTransaction) => Promise<Result>, options: TransactionOptions): Promise<Result>;
  put(key: StoreKey, value: unknown): Promise<{ version: number }>;
  get(key: StoreKey, options?: { asOf?: number }): Promise<unknown>;
  batch(operations: readonly BatchOperation[]): Promise<{ version: number }>;
  scan(options: ScanOptions): AsyncIterable<readonly [StoreKey, unknown]>;
  stats(): Record<string, unknown>;
  checkpoint(): Promise<unknown>;
  readonly version: number;
  compact(options?: { retainFrom?: number }): Promise<LadybugCompactionResult>;
  close(): Promise<void>;
}

interface LadybugCompactionResult {
  readonly outcome: string;
  readonly runsIn: number;
  readonly runsOut: number;
  readonly entriesDropped: number;
  readonly durationMs: number;
}

/** The fields of store.stats().storage the compaction workloads report. */
interface LadybugStorageStats {
  readonly runs: number;
  readonly runBytes: number;
  readonly flushedBytes: number;
  readonly compaction: {
    readonly running: boolean;
    readonly writeAmplification: number;
    readonly compactedBytesWritten: number;
  };
}

/** How often settle() looks whether a background compaction still runs. */
const COMPACTION_IDLE_POLL_MS = 10;

interface LadybugModule {
  openStore(directory: string, options?: Record<string, unknown>): Promise<LadybugStore>;
}

/**
 * Options always passed to openStore: keys are binary (as for the peers), so
 * scans return Uint8Array keys instead of decoding them as UTF-8. Everything
 * else (syncMode 'adaptive', segment size, ...) is the store's default
 * unless overridden with --ladybug-options.
 */
const BASE_STORE_OPTIONS: Readonly<Record<string, unknown>> = { keyEncoding: 'binary' };

/**
 * Retries of a conflicting transaction before store.transaction() rejects with
 * ConflictError (code LADYBUG_CONFLICT): the store's default, passed explicitly.
 */
export const LADYBUG_TRANSACTION_RETRIES = 10;

const CONFLICT_CODE = 'LADYBUG_CONFLICT';

const TRANSACTION_VARIANTS: readonly TransactionVariant[] = [
  {
    id: 'serializable',
    description: `\`await store.transaction(async (tx) => { await tx.get(a); await tx.get(b); tx.put(a, ..); tx.put(b, ..) }, { isolation: 'serializable', retries: ${LADYBUG_TRANSACTION_RETRIES} })\``,
    isolation: 'isolated',
    concurrency: 'optimistic: the commit is refused if a commit above the read version wrote a key it read; the body then re-runs after a jittered backoff (1 ms doubling to 100 ms), and after the last retry the call rejects with LADYBUG_CONFLICT',
  },
  {
    id: 'serial',
    description: '`await store.transactionSync((tx) => { tx.get(a); tx.get(b); tx.put(a, ..); tx.put(b, ..) })` — a synchronous body',
    isolation: 'isolated',
    concurrency: 'serial: the body runs inside the commit critical section against the latest ordered state (including commits not yet fsynced), one after another, so it never conflicts; its promise resolves after its own group\'s fdatasync, which it shares with the others ordered meanwhile (as lmdb-js batches its write transactions)',
  },
  {
    id: 'snapshot',
    description: `the same body with \`{ isolation: 'snapshot', retries: ${LADYBUG_TRANSACTION_RETRIES} }\``,
    isolation: 'isolated',
    concurrency: 'optimistic, first committer wins on a key both write; here every key read is also written, so no update can be lost. Same retry and backoff as serializable',
  },
  {
    id: 'batch',
    description: '`await store.batch([{ type: "put", key: a, value }, { type: "put", key: b, value }])` — the two writes only: no reads, no validation',
    isolation: 'blind-writes',
    concurrency: 'never conflicts: the cost baseline of committing two keys, NOT isolation-equivalent to a transaction',
  },
];

export function ladybugEngine(extraStoreOptions: Readonly<Record<string, unknown>> = {}): EngineDefinition {
  const storeOptions = { ...BASE_STORE_OPTIONS, ...extraStoreOptions };
  const stringStoreOptions = { ...storeOptions, keyEncoding: 'utf8' };
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
    stringKeySettings: [
      `openStore(dir, ${JSON.stringify(stringStoreOptions)}); string keys and string values (kept in memory as strings, msgpack in the WAL)`,
    ],
    bulkLoadBatchSize: bulkLoadBatchSize(storeOptions),
    compactionNote:
      '`await store.checkpoint()` (memtables to runs; untimed), wait until no background compaction runs, then `await store.compact({ retainFrom: store.version })` where the workload asks to give up old versions (update-heavy, delete-heavy: as-of reads below that version are refused from then on, for every key, like etcd after Compact(rev)), else `await store.compact()`: merges every run into new runs, dropping versions maxVersionsPerKey, the retention floor and the pins allow, and the deletes nothing older can resurface under',
    transactionVariants: TRANSACTION_VARIANTS,
    supportsReads: true,
    concurrentPutMode: 'in-flight-puts',
    concurrencyNote: '64 puts in flight; the store group-commits everything queued into one WAL write + fdatasync',
    async load() {
      const module = await importStoreModule();
      return async (directory, options) => {
        const chosen = options.keyType === 'string' ? stringStoreOptions : storeOptions;
        return ladybugHandle(await module.openStore(join(directory, 'store'), chosen));
      };
    },
  };
}

/** The active memtable's share of memoryBudgetBytes (MEMTABLE_BUDGET_SHARE of src/engine/memory-budget.ts). */
const MEMTABLE_BUDGET_SHARE = 1 / 12;
/** Memtable bytes of one 16 B key with a 100 B value (stats().memoryBytes: ~550 B measured). */
const MEMTABLE_BYTES_PER_BENCH_KEY = 550;
/** Fewest puts per bulk-load batch (classic-level's batch). */
const BULK_LOAD_BATCH_MIN = 10_000;

/**
 * 100,000 puts per batch (the store's most operations per batch) was the
 * fastest bulk load measured while all data lived in memory; a smaller
 * --ladybug-options segmentSizeBytes shrinks it so one batch of 100 B records
 * (~140 B in the WAL) fits half a segment. With a memoryBudgetBytes (the
 * large-data and compaction workloads) a batch is held to about what fits the
 * memtable's share (at least BULK_LOAD_BATCH_MIN): one commit is one memtable
 * whatever its size, and a 100,000-key commit (~52 MiB) beside the next one's
 * transients drove V8's heap to ~4x that (1M keys, 64 MiB budget, measured with
 * bench/large/load-memory-profile: peak RSS 485 MiB with 100,000-key batches,
 * 198 with 10,000, at the same keys/s).
 */
function bulkLoadBatchSize(storeOptions: Readonly<Record<string, unknown>>): number {
  let batch = 100_000;
  const budgetBytes = storeOptions['memoryBudgetBytes'];
  if (typeof budgetBytes === 'number') batch = Math.max(BULK_LOAD_BATCH_MIN, Math.min(batch, Math.floor((budgetBytes * MEMTABLE_BUDGET_SHARE) / MEMTABLE_BYTES_PER_BENCH_KEY)));
  const segmentBytes = storeOptions['segmentSizeBytes'];
  if (typeof segmentBytes !== 'number') return batch;
  return Math.max(100, Math.min(batch, Math.floor(segmentBytes / 2 / 140)));
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
    transact: (variant, keys, update) => transact(store, variant, keys, update),
    stats: () => numericStats(store.stats()),
    async deleteBatch(keys) {
      await store.batch(keys.map((key) => ({ type: 'del' as const, key })));
    },
    async settle() {
      await store.checkpoint();
      while (storageStats(store).compaction.running) await new Promise((resolve) => setTimeout(resolve, COMPACTION_IDLE_POLL_MS));
    },
    async compact(options) {
      const runsBefore = storageStats(store).runs;
      const result = await store.compact(options?.retainFromCurrentVersion === true ? { retainFrom: store.version } : {});
      const storage = storageStats(store);
      return {
        compacted: result.outcome === 'compacted' ? 1 : 0,
        runsBefore,
        runsAfter: storage.runs,
        runBytes: storage.runBytes,
        entriesDropped: result.entriesDropped,
        compactDurationMs: result.durationMs,
        writeAmplification: storage.compaction.writeAmplification,
        flushedBytes: storage.flushedBytes,
        compactedBytesWritten: storage.compaction.compactedBytesWritten,
        walBytes: numericStats(store.stats())['walBytes'] ?? 0,
      };
    },
    close: () => store.close(),
  };
}

async function transact(store: LadybugStore, variant: string, keys: readonly Uint8Array[], update: ReadModifyWrite): Promise<TransactResult> {
  if (variant === 'batch') {
    const values = update(keys.map(() => undefined));
    await store.batch(keys.map((key, index) => ({ type: 'put' as const, key, value: values[index] })));
    return { attempts: 1, committed: true };
  }
  if (variant === 'serial') {
    let attempts = 0;
    await store.transactionSync((tx) => {
      attempts += 1;
      const values = keys.map((key) => tx.get(key) as Uint8Array);
      const updated = update(values);
      keys.forEach((key, index) => tx.put(key, updated[index]));
    });
    return { attempts, committed: true };
  }
  if (variant !== 'serializable' && variant !== 'snapshot') throw new Error(`unknown ladybug transaction variant ${variant}`);
  let attempts = 0;
  try {
    await store.transaction(
      async (tx) => {
        attempts += 1;
        const values: Uint8Array[] = [];
        for (const key of keys) values.push((await tx.get(key)) as Uint8Array);
        const updated = update(values);
        keys.forEach((key, index) => tx.put(key, updated[index]));
      },
      { isolation: variant, retries: LADYBUG_TRANSACTION_RETRIES },
    );
    return { attempts, committed: true };
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === CONFLICT_CODE) return { attempts, committed: false };
    throw error;
  }
}

function storageStats(store: LadybugStore): LadybugStorageStats {
  return store.stats()['storage'] as LadybugStorageStats;
}

/**
 * The numeric fields of store.stats(), plus the recovery report's as recoveryDurationMs,
 * recoveryRecords, ..., and the storage engine's under their own names (runs, flushes,
 * writeStalls, writeStallMs, blockCacheHits, ...: what the large-data workloads pick)
 * where the top level has no field of that name.
 */
function numericStats(stats: Record<string, unknown>): EngineStats {
  const numeric = numericFields(stats, '');
  const recovery = stats['recovery'];
  if (typeof recovery === 'object' && recovery !== null) Object.assign(numeric, numericFields(recovery as Record<string, unknown>, 'recovery'));
  const storage = stats['storage'];
  if (typeof storage === 'object' && storage !== null) {
    for (const [name, value] of Object.entries(numericFields(storage as Record<string, unknown>, ''))) if (!(name in numeric)) numeric[name] = value;
  }
  return numeric;
}

function numericFields(stats: Record<string, unknown>, prefix: string): EngineStats {
  const numeric: EngineStats = {};
  for (const [name, value] of Object.entries(stats)) {
    const field = prefix === '' ? name : `${prefix}${name.charAt(0).toUpperCase()}${name.slice(1)}`;
    if (typeof value === 'number' && Number.isFinite(value)) numeric[field] = value;
  }
  return numeric;
}
