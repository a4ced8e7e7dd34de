/**
 * lmdb-js adapter.
 *
 * Durability: `overlappingSync: false` makes each write transaction sync
 * (fdatasync of the data file, meta page through LMDB's synchronous handle)
 * inside its commit, so the promise of an awaited `db.put` resolves only after
 * the commit is on disk. `noSync` and `noMetaSync` stay at their default
 * (false). lmdb-js batches every put issued in the same event turn into one
 * transaction (eventTurnBatching, the default), which is its group commit.
 */
import { join } from 'node:path';
import type { Database } from 'lmdb';
import type { BenchKey, BenchValue, EngineDefinition, EngineHandle, Entry, ScanRange } from './engine.js';

type LmdbDatabase = Database<BenchValue, BenchKey>;

export const lmdbEngine: EngineDefinition = {
  id: 'lmdb',
  label: 'lmdb-js',
  role: 'peer',
  packageName: 'lmdb',
  settings: [
    'open({ path, overlappingSync: false, encoding: "binary", keyEncoding: "binary" })',
    'noSync: false, noMetaSync: false, commitDelay: 0, eventTurnBatching: true (defaults)',
    'put: `await db.put(key, value)` — resolves after the synced commit',
    'batch: `await db.batch(() => { db.put(...) x N })` (one transaction)',
    'get: synchronous `db.get(key)`; scan: `db.getRange({ start, limit })`',
  ],
  stringKeySettings: [
    'open({ path, overlappingSync: false }): default key encoding (ordered-binary, string keys) and default value encoding (msgpack); `db.get(key)` returns the string',
  ],
  bulkLoadBatchSize: 100_000,
  compactionNote:
    'none: LMDB is a copy-on-write B+tree that puts freed pages on its free list and reuses them for later writes; the file never shrinks and there is no compaction call (only a compacting copy to another file, not measured)',
  transactionVariants: [
    {
      id: 'transaction',
      description: '`await db.transaction(() => { db.get(a); db.get(b); db.put(a, ..); db.put(b, ..) })`',
      isolation: 'isolated',
      concurrency: 'write transactions are serialized (one writer): callbacks queued in one event turn run one after another inside one LMDB write transaction, committed and synced together, so no conflicts and no retries',
    },
  ],
  supportsReads: true,
  concurrentPutMode: 'in-flight-puts',
  concurrencyNote: '64 puts in flight; puts issued in one event turn share one transaction and one sync',
  async load() {
    const { open } = await import('lmdb');
    return async (directory, options) => {
      const path = join(directory, 'data.mdb');
      const database: LmdbDatabase =
        options.keyType === 'string'
          ? open<BenchValue, BenchKey>({ path, overlappingSync: false })
          : open<BenchValue, BenchKey>({ path, overlappingSync: false, encoding: 'binary', keyEncoding: 'binary' });
      return lmdbHandle(database);
    };
  },
};

function lmdbHandle(database: LmdbDatabase): EngineHandle {
  return {
    async put(key, value) {
      await database.put(key, value);
    },
    async batch(entries: readonly Entry[]) {
      await database.batch(() => {
        for (const entry of entries) void database.put(entry.key, entry.value);
      });
    },
    get: (key) => database.get(key),
    getIsSynchronous: true,
    async scan(range: ScanRange) {
      let count = 0;
      for (const _entry of database.getRange({ start: range.gte, limit: range.limit })) count += 1;
      return count;
    },
    async transact(_variant, keys, update) {
      await database.transaction(() => {
        const updated = update(keys.map((key) => database.get(key) as Uint8Array | undefined));
        keys.forEach((key, index) => void database.put(key, updated[index] as Uint8Array));
      });
      return { attempts: 1, committed: true };
    },
    async deleteBatch(keys) {
      await database.batch(() => {
        for (const key of keys) void database.remove(key);
      });
    },
    async close() {
      await database.close();
    },
  };
}
