/**
 * better-sqlite3 (SQLite) adapter.
 *
 * Durability: `journal_mode = WAL` with `synchronous = FULL`, so each commit
 * fsyncs the WAL before it returns. One prepared `INSERT OR REPLACE` per put, in
 * autocommit (one transaction each). The API is synchronous: "64 concurrent
 * puts" still execute one at a time, each blocking the event loop for its sync.
 *
 * better-sqlite3 ships no type declarations (and @types/better-sqlite3 is not
 * installed), so it is loaded with require() behind the small typed surface
 * below.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BenchKey, EngineDefinition, EngineHandle, Entry, KeyType, ReadModifyWrite, ScanRange } from './engine.js';

interface SqliteStatement {
  run(...parameters: unknown[]): unknown;
  get(...parameters: unknown[]): unknown;
  all(...parameters: unknown[]): unknown[];
  pluck(toggle?: boolean): SqliteStatement;
}

interface SqliteDatabase {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
  prepare(source: string): SqliteStatement;
  transaction<Arguments extends unknown[]>(body: (...parameters: Arguments) => void): (...parameters: Arguments) => void;
  close(): unknown;
}

type SqliteConstructor = new (filename: string) => SqliteDatabase;

export const betterSqlite3Engine: EngineDefinition = {
  id: 'better-sqlite3',
  label: 'better-sqlite3',
  role: 'peer',
  packageName: 'better-sqlite3',
  settings: [
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL (other pragmas default)',
    'table: kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID',
    'put: prepared `INSERT OR REPLACE` in autocommit (one fsynced WAL commit per put)',
    'batch: the same statement N times inside `db.transaction(...)`',
    'get: prepared SELECT (pluck); scan: `SELECT ... WHERE key >= ? ORDER BY key LIMIT ?`',
  ],
  stringKeySettings: ['table: kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID; the same statements; `get` returns the string'],
  bulkLoadBatchSize: 100_000,
  transactionVariants: [
    {
      id: 'transaction',
      description: '`db.transaction((a, b) => { SELECT a; SELECT b; INSERT OR REPLACE a; INSERT OR REPLACE b })(a, b)` — BEGIN (deferred) … COMMIT, one fsynced WAL commit',
      isolation: 'isolated',
      concurrency: 'serialized and synchronous: each transaction blocks the event loop through its commit and fsync, so the clients run strictly one at a time; no conflicts, no retries',
    },
  ],
  supportsReads: true,
  concurrentPutMode: 'in-flight-puts-run-serially',
  concurrencyNote: 'synchronous API: the 64 "concurrent" puts run strictly one at a time, one commit + fsync each',
  async load() {
    const require = createRequire(import.meta.url);
    const Database = require('better-sqlite3') as SqliteConstructor;
    return async (directory, options) => sqliteHandle(openDatabase(Database, join(directory, 'data.sqlite'), options.keyType));
  },
};

function openDatabase(Database: SqliteConstructor, filename: string, keyType: KeyType): SqliteDatabase {
  const database = new Database(filename);
  const journalMode = database.pragma('journal_mode = WAL', { simple: true });
  if (journalMode !== 'wal') throw new Error(`journal_mode is ${String(journalMode)}, expected wal`);
  database.pragma('synchronous = FULL');
  const synchronous = database.pragma('synchronous', { simple: true });
  if (synchronous !== 2) throw new Error(`synchronous is ${String(synchronous)}, expected 2 (FULL)`);
  const type = keyType === 'string' ? 'TEXT' : 'BLOB';
  database.exec(`CREATE TABLE IF NOT EXISTS kv (key ${type} PRIMARY KEY, value ${type} NOT NULL) WITHOUT ROWID`);
  return database;
}

function sqliteHandle(database: SqliteDatabase): EngineHandle {
  const insert = database.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)');
  const select = database.prepare('SELECT value FROM kv WHERE key = ?').pluck();
  const range = database.prepare('SELECT key, value FROM kv WHERE key >= ? ORDER BY key LIMIT ?');
  const remove = database.prepare('DELETE FROM kv WHERE key = ?');
  const removeAll = database.transaction((keys: readonly BenchKey[]) => {
    for (const key of keys) remove.run(key);
  });
  const insertAll = database.transaction((entries: readonly Entry[]) => {
    for (const entry of entries) insert.run(entry.key, entry.value);
  });
  const readModifyWrite = database.transaction((keys: readonly Uint8Array[], update: ReadModifyWrite) => {
    const updated = update(keys.map((key) => (select.get(key) ?? undefined) as Uint8Array | undefined));
    keys.forEach((key, index) => insert.run(key, updated[index]));
  });
  return {
    async put(key, value) {
      insert.run(key, value);
    },
    async batch(entries) {
      insertAll(entries);
    },
    async deleteBatch(keys) {
      removeAll(keys);
    },
    get: (key) => select.get(key) ?? undefined,
    getIsSynchronous: true,
    async scan(scanRange: ScanRange) {
      return range.all(scanRange.gte, scanRange.limit).length;
    },
    async transact(_variant, keys, update) {
      readModifyWrite(keys, update);
      return { attempts: 1, committed: true };
    },
    async close() {
      database.close();
    },
  };
}
