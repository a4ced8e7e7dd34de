/**
 * The level adapter with utf8 keys where UTF-8 byte order and UTF-16 order disagree
 * (U+E000..U+FFFF against astral characters), prefixes of each other and 1,024-byte
 * keys: iterators of every bound kind, both directions, limits and seeks, and keys()
 * return the keys in UTF-8 byte order from the memtable, flushed runs, a merge, the cold
 * tier and after a reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { byteKey, edgeStringKey, inBounds, longStems, maxKey, mulberry32, pick, randomBounds } from './edge-review-support.js';

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

const textOf = (byte: string): string => Buffer.from(byte, 'latin1').toString('utf8');

describe('the level adapter orders utf8 keys by their UTF-8 bytes through every stage', () => {
  it('iterators, seeks and keys() agree with the model from memtable to cold tier and after a reopen', async () => {
    const rng = mulberry32(0x1e7e1);
    const stems = longStems();
    const pool = new Set<string>(['', '\u0000', 'a', 'a\u0000', '\uFFFF', '\u{10000}', '\uFFFD\u{1F600}'].map(byteKey));
    while (pool.size < 90) pool.add(byteKey(edgeStringKey(rng, stems)));
    for (let index = 0; index < 20; index++) pool.add(byteKey(maxKey(rng, pick(rng, stems))));
    const keys = [...pool];
    const model = new Map<string, string>();
    const directory = temporaryDirectory();
    compactionSettings.mergeThread = 'main';
    let db = new LadybugLevel<string, string>(directory, { store: { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN } });
    await db.open();
    const check = async (label: string): Promise<void> => {
      const sorted = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      expect((await db.keys().all()).map(byteKey), `${label}: keys()`).toEqual(sorted.map(([key]) => key));
      for (let index = 0; index < 16; index++) {
        const bounds = randomBounds(rng, keys);
        const reverse = rng() < 0.5;
        const limit = rng() < 0.5 ? 1 + Math.floor(rng() * 6) : -1;
        let want = sorted.filter(([key]) => inBounds(key, bounds));
        if (reverse) want = want.reverse();
        if (limit >= 0) want = want.slice(0, limit);
        const options = { reverse, limit, ...Object.fromEntries(Object.entries(bounds).map(([name, byte]) => [name, textOf(byte as string)])) };
        const got = await db.iterator(options).all();
        expect(got.map(([key, value]) => [byteKey(key), value]), `${label}: iterator ${JSON.stringify({ ...bounds, reverse, limit })}`).toEqual(want);
      }
      // seek() to a key of the pool: the entries from there on, in the iterator's direction.
      for (let index = 0; index < 8; index++) {
        const target = pick(rng, keys);
        const reverse = rng() < 0.5;
        const iterator = db.iterator({ reverse });
        iterator.seek(textOf(target));
        const got = (await iterator.nextv(5)).map(([key]) => byteKey(key));
        await iterator.close();
        const want = (reverse ? sorted.filter(([key]) => key <= target).reverse() : sorted.filter(([key]) => key >= target)).slice(0, 5).map(([key]) => key);
        expect(got, `${label}: seek`).toEqual(want);
      }
    };
    const write = async (round: number): Promise<void> => {
      for (let index = 0; index < 50; index++) {
        const byte = pick(rng, keys);
        if (rng() < 0.2) {
          await db.del(textOf(byte));
          model.delete(byte);
        } else {
          const value = `${round}:${index}`;
          await db.put(textOf(byte), value);
          model.set(byte, value);
        }
      }
    };
    try {
      for (let round = 0; round < 3; round++) {
        await write(round);
        await check(`round ${round} memtable`);
        await db.store.checkpoint();
      }
      await db.store.compact();
      await check('merged');
      await write(3);
      await db.store.checkpoint();
      await db.store.compact();
      expect(db.store.stats().storage.tiers.coldRuns, 'a cold run').toBeGreaterThan(0);
      await check('cold');
      await db.close();
      db = new LadybugLevel<string, string>(directory, { store: { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN } });
      await db.open();
      await check('reopened');
    } finally {
      await db.close();
    }
  }, 60_000);
});
