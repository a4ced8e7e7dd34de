/**
 * db.clear() called before db.close() finishes, as classic-level's does: classic-level's
 * close() waits for the operations called before it, and code written for it (a
 * teardown that clears and closes without awaiting the clear, say) expects the range
 * cleared. The adapter's clear deletes its range in chunks of CLEAR_CHUNK_KEYS, and a
 * close while it ran made it reject with StoreClosedError, the keys it had not reached
 * still stored. Both databases run the same calls here and must agree.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { CLEAR_CHUNK_KEYS, LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const KEYS = 3 * CLEAR_CHUNK_KEYS + 17;

type Db = ClassicLevel<string, string> | LadybugLevel<string, string>;
const databases: Record<string, (location: string) => Db> = {
  ladybug: (location) => new LadybugLevel<string, string>(location),
  classic: (location) => new ClassicLevel<string, string>(location),
};

function key(index: number): string {
  return `k${String(index).padStart(5, '0')}`;
}

async function filled(make: (location: string) => Db, location: string): Promise<Db> {
  const db = make(location);
  await db.open();
  await db.batch([{ type: 'put', key: '', value: 'empty' }, { type: 'put', key: '\u0000', value: 'zero' }]);
  for (let start = 0; start < KEYS; start += CLEAR_CHUNK_KEYS) {
    await db.batch(Array.from({ length: Math.min(CLEAR_CHUNK_KEYS, KEYS - start) }, (_, offset) => ({ type: 'put' as const, key: key(start + offset), value: 'v' })));
  }
  await db.put('z', 'last');
  return db;
}

/** What the database holds after a reopen: the count of its keys and the ones outside the k-range. */
async function afterReopen(make: (location: string) => Db, location: string): Promise<{ count: number; others: string[] }> {
  const db = make(location);
  await db.open();
  try {
    const keys = await db.keys().all();
    return { count: keys.length, others: keys.filter((found) => !found.startsWith('k')) };
  } finally {
    await db.close();
  }
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'resolved', (error: unknown) => `rejected ${(error as { code?: string }).code}`);
}

describe('level clear() called before close() finishes its range', () => {
  const cases: Array<{ name: string; run: (db: Db) => Promise<string[]>; stored: { count: number; others: string[] } }> = [
    {
      name: 'clear() of everything, then close()',
      run: async (db) => {
        const clearing = outcome(db.clear());
        await db.close();
        return [await clearing];
      },
      stored: { count: 0, others: [] },
    },
    {
      name: 'clear() of a range holding the empty key, then a put, then close()',
      run: async (db) => {
        const clearing = outcome(db.clear({ lt: 'l' }));
        const putting = outcome(db.put('m', 'after'));
        await db.close();
        return [await clearing, await putting];
      },
      stored: { count: 2, others: ['m', 'z'] },
    },
    {
      name: 'a reverse clear() with a limit over two chunks, then close()',
      run: async (db) => {
        const clearing = outcome(db.clear({ gte: 'k', lt: 'l', reverse: true, limit: 2 * CLEAR_CHUNK_KEYS + 5 }));
        await db.close();
        return [await clearing];
      },
      stored: { count: 3 + KEYS - (2 * CLEAR_CHUNK_KEYS + 5), others: ['', '\u0000', 'z'] },
    },
  ];

  for (const { name, run, stored } of cases) {
    it(`${name}: resolves and leaves what classic-level leaves`, async () => {
      const results: Record<string, unknown> = {};
      for (const [side, make] of Object.entries(databases)) {
        const location = temporaryDirectory();
        const db = await filled(make, location);
        const outcomes = await run(db);
        results[side] = { outcomes, stored: await afterReopen(make, location) };
      }
      expect(results['ladybug']).toEqual(results['classic']);
      expect(results['ladybug']).toEqual({ outcomes: expect.arrayContaining(['resolved']) as unknown, stored });
      expect((results['ladybug'] as { outcomes: string[] }).outcomes.every((found) => found === 'resolved')).toBe(true);
    }, 30_000);
  }
});
