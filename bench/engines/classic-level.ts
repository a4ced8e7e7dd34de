/**
 * classic-level (LevelDB) adapter.
 *
 * Durability: every put and batch passes `{ sync: true }`, so LevelDB fsyncs its
 * log before the call completes. Writes run on the libuv threadpool; LevelDB
 * itself merges concurrent writers into one log write (its group commit).
 */
import { ClassicLevel } from 'classic-level';
import type { BenchKey, BenchValue, EngineDefinition, EngineHandle, Entry, ScanRange } from './engine.js';

type LevelDatabase = ClassicLevel<BenchKey, BenchValue>;

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
  stringKeySettings: ['new ClassicLevel(dir, { keyEncoding: "utf8", valueEncoding: "utf8" }); `db.getSync(key)` returns the string'],
  bulkLoadBatchSize: 10_000,
  compactionNote:
    '`await db.compactRange(lowest key, highest key)`: LevelDB compacts every level overlapping the range (drops overwritten versions and deletion markers); its own background compactions run meanwhile as usual',
  transactionVariants: [
    {
      id: 'get+batch',
      description: '`const [va, vb] = await db.getMany([a, b]); await db.batch([put a, put b], { sync: true })` — classic-level has no transactions',
      isolation: 'not-isolated',
      concurrency: 'the reads and the batch are separate calls, so concurrent clients can overwrite each other\'s updates (lost updates); the batch itself is atomic',
    },
  ],
  supportsReads: true,
  concurrentPutMode: 'in-flight-puts',
  concurrencyNote: `64 puts in flight on the libuv threadpool (UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4, the default'}); LevelDB groups concurrent writers`,
  async load() {
    const { ClassicLevel: LevelConstructor } = await import('classic-level');
    return async (directory, options) => {
      const encoding = options.keyType === 'string' ? 'utf8' : 'view';
      const database: LevelDatabase = new LevelConstructor<BenchKey, BenchValue>(directory, {
        keyEncoding: encoding,
        valueEncoding: encoding,
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
    async transact(_variant, keys, update) {
      const values = await database.getMany([...keys]);
      const updated = update(values as (Uint8Array | undefined)[]);
      await database.batch(keys.map((key, index) => ({ type: 'put' as const, key, value: updated[index] as Uint8Array })), SYNC);
      return { attempts: 1, committed: true };
    },
    deleteBatch: (keys) => database.batch(keys.map((key) => ({ type: 'del' as const, key })), SYNC),
    async compact() {
      // Every benchmark key is 16 bytes: 16 x 0x00 to 17 x 0xff covers them all.
      await database.compactRange(new Uint8Array(16), new Uint8Array(17).fill(0xff));
      return {};
    },
    close: () => database.close(),
  };
}
