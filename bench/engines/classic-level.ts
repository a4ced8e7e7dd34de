/**
 * classic-level (LevelDB) adapter.
 *
 * Durability: every put and batch passes `{ sync: true }`, so LevelDB fsyncs its
 * log before the call completes. Writes run on the libuv threadpool; LevelDB
 * itself merges concurrent writers into one log write (its group commit).
 */
import { ClassicLevel } from 'classic-level';
import type { EngineDefinition, EngineHandle, Entry, ScanRange } from './engine.js';

type LevelDatabase = ClassicLevel<Uint8Array, Uint8Array>;

const SYNC = { sync: true } as const;

export const classicLevelEngine: EngineDefinition = {
  id: 'classic-level',
  label: 'classic-level',
  role: 'peer',
  packageName: 'classic-level',
  settings: [
    'new ClassicLevel(dir, { keyEncoding: "view", valueEncoding: "view" }), other options default',
    'put: `await db.put(key, value, { sync: true })`',
    'batch: `await db.batch(operations, { sync: true })`',
    'get: `db.getSync(key)`; scan: `db.iterator({ gte, limit }).all()`',
  ],
  supportsReads: true,
  concurrentPutMode: 'in-flight-puts',
  concurrencyNote: `64 puts in flight on the libuv threadpool (UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4, the default'}); LevelDB groups concurrent writers`,
  async load() {
    const { ClassicLevel: LevelConstructor } = await import('classic-level');
    return async (directory: string) => {
      const database: LevelDatabase = new LevelConstructor(directory, {
        keyEncoding: 'view',
        valueEncoding: 'view',
      });
      await database.open();
      return levelHandle(database);
    };
  },
};

function levelHandle(database: LevelDatabase): EngineHandle {
  return {
    put: (key, value) => database.put(key, value, SYNC),
    batch(entries: readonly Entry[]) {
      const operations = entries.map((entry) => ({ type: 'put' as const, key: entry.key, value: entry.value }));
      return database.batch(operations, SYNC);
    },
    get: (key) => database.getSync(key),
    getIsSynchronous: true,
    async scan(range: ScanRange) {
      const entries = await database.iterator({ gte: range.gte, limit: range.limit }).all();
      return entries.length;
    },
    close: () => database.close(),
  };
}
