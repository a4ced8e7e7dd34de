/**
 * An options argument must be an object of named options. A built-in object whose
 * contents are not options (an AbortSignal given where `{ signal }` was meant, an array,
 * a Map, a Date, a typed array) has no own enumerable names, so every method took it as
 * empty options and went ahead: `store.transaction(body, signal)` with an aborted signal
 * committed, `store.scrub(signal)` and `store.backup(dir, signal)` ran to the end,
 * `store.put(key, value, signal)` wrote. Each is refused with InvalidOptionError (as
 * openStore already refused an array, a Map or a Set), nothing written or made.
 */
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, restoreBackup, verifyBackup, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

function abortedSignal(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

const KINDS: [string, () => object][] = [
  ['an aborted AbortSignal', abortedSignal],
  ['an AbortSignal', () => new AbortController().signal],
  ['an array', () => []],
  ['a Map', () => new Map([['limit', 1]])],
  ['a Date', () => new Date(0)],
  ['an empty Uint8Array', () => new Uint8Array(0)],
];

const NEVER_MADE = join(tmpdir(), `input-review-options-kind-${process.pid}`);

type Site = [string, (store: Store, options: object) => unknown];

const SITES: Site[] = [
  // Given the kind itself, no fileSystem rides along: the real disk, a directory removed after each case.
  ['openStore', async (_s, o) => { const opened = await openStore(NEVER_MADE, o as never); await opened.close(); }],
  ['put', (s, o) => s.put('written', 1, o as never)],
  ['delete', (s, o) => s.delete('a', o as never)],
  ['batch', (s, o) => s.batch([{ type: 'put', key: 'written', value: 1 }], o as never)],
  ['get', (s, o) => s.get('a', o as never)],
  ['history', (s, o) => s.history('a', o as never)],
  ['scan', (s, o) => s.scan(o as never).next()],
  ['snapshot.get', async (s, o) => { const snapshot = await s.snapshot(); try { return await snapshot.get('a', o as never); } finally { await snapshot.release(); } }],
  ['snapshot.scan', async (s, o) => { const snapshot = await s.snapshot(); try { return await snapshot.scan(o as never).next(); } finally { await snapshot.release(); } }],
  ['transaction', (s, o) => s.transaction((tx) => { tx.put('written', 1); }, o as never)],
  ['tx.get', (s, o) => s.transaction(async (tx) => { await tx.get('a', o as never); tx.put('written', 1); })],
  ['tx.scan', (s, o) => s.transaction(async (tx) => { await tx.scan(o as never).next(); tx.put('written', 1); })],
  ['compact', (s, o) => s.compact(o as never)],
  ['scrub', (s, o) => s.scrub(o as never)],
  ['metrics', (s, o) => s.metrics(o as never)],
  ['backup', (s, o) => s.backup('/backup-made', o as never)],
  // No fileSystem rides along either: paths on the real disk, under the directory that must never be made.
  ['restoreBackup', (_s, o) => restoreBackup(join(NEVER_MADE, 'backup'), join(NEVER_MADE, 'restored'), o as never)],
  ['verifyBackup', (_s, o) => verifyBackup(join(NEVER_MADE, 'backup'), o as never)],
  ['leases.list', (s, o) => s.leases.list(o as never)],
  ['leases.acquire', (s, o) => s.leases.acquire('lease', o as never)],
  ['watch', (s, o) => s.watch(o as never).next()],
];

/** The call's rejection; 'accepted' if it resolved, 'no answer' if it did not settle within 1 s (a watch taking it as empty options follows). */
async function ending(call: () => unknown): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('no answer'), 1000); });
  try {
    return await Promise.race([(async () => { await call(); return 'accepted'; })(), late]);
  } catch (error) {
    return error;
  } finally {
    clearTimeout(timer);
  }
}

describe('an options argument that is a built-in object of another kind is refused', () => {
  let fileSystem: FaultFileSystem;
  let store: Store;
  beforeEach(async () => {
    fileSystem = new FaultFileSystem(11);
    store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
  });
  afterEach(async () => {
    await store.close();
    rmSync(NEVER_MADE, { recursive: true, force: true });
  });

  for (const [kind, make] of KINDS) {
    it(`${kind}, at every method taking options`, async () => {
      const wrong: string[] = [];
      for (const [site, call] of SITES) {
        const error = await ending(() => call(store, make()));
        if (!(error instanceof InvalidOptionError) || error.code !== ErrorCode.InvalidOption) {
          wrong.push(`${site}: ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(store.version).toBe(1);
      expect(await store.get('written')).toBeUndefined();
      expect(await store.get('a')).toBe(1);
      expect(await fileSystem.exists('/backup-made')).toBe(false);
      expect(existsSync(NEVER_MADE)).toBe(false);
    });
  }
});
