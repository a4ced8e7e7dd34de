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
import type { EngineDefinition, EngineHandle, Entry, ScanRange } from './engine.js';

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
  supportsReads: true,
  concurrentPutMode: 'in-flight-puts',
  concurrencyNote: '64 puts in flight; puts issued in one event turn share one transaction and one sync',
  async load() {
    const { open } = await import('lmdb');
    return async (directory: string) => {
      const database = open<Uint8Array, Uint8Array>({
        path: join(directory, 'data.mdb'),
        overlappingSync: false,
        encoding: 'binary',
        keyEncoding: 'binary',
      });
      return lmdbHandle(database);
    };
  },
};

function lmdbHandle(database: Database<Uint8Array, Uint8Array>): EngineHandle {
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
    async close() {
      await database.close();
    },
  };
}
