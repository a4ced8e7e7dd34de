/**
 * Range bounds and seek targets longer than the store's key limit (KEY_BYTES_MAX,
 * 1,024 bytes) are ranges like any other, as in classic-level: no key that long can be
 * stored, but a bound need not be a key (a sublevel's keys under a long prefix, an upper
 * bound built by appending 0xff bytes). The adapter handed such a bound to the store's
 * scan, which refused it as a key (LADYBUG_INVALID_KEY), so iterator(), keys(), seek()
 * and clear() over such a range failed. Found by model-level-random against classic-level.
 */
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const K1024 = 'k'.repeat(1024);
const STORED = ['a', 'k'.repeat(1023), `${'k'.repeat(1023)}j`, K1024, `${'k'.repeat(1023)}l`, 'z'];
const LONG = [`${K1024}k`, `${K1024}\u0000`, `${'k'.repeat(1023)}j${'z'.repeat(10)}`];

interface LooseDb {
  batch(operations: Array<{ type: 'put'; key: string; value: string }>): Promise<void>;
  keys(options?: object): { seek(target: string): void; all(): Promise<string[]> };
  clear(options: object): Promise<void>;
}

/** Each range and seek over the long bounds, then clears, as lists of key lengths and last bytes. */
async function readAll(db: LooseDb): Promise<string[]> {
  await db.batch(STORED.map((key) => ({ type: 'put' as const, key, value: 'v' })));
  const show = (keys: string[]) => keys.map((key) => `${key.length}:${key.slice(-1)}`).join(',');
  const found: string[] = [];
  for (const bound of LONG) {
    for (const range of [{ gt: bound }, { gte: bound }, { lt: bound }, { lte: bound }, { gt: 'a', lt: bound, reverse: true }, { gte: bound, lt: 'z' }]) {
      found.push(show(await db.keys(range).all()));
    }
    for (const reverse of [false, true]) {
      const iterator = db.keys({ reverse });
      iterator.seek(bound);
      found.push(show(await iterator.all()));
    }
  }
  await db.clear({ gt: LONG[0], limit: 1 });
  await db.clear({ lte: LONG[2], reverse: true, limit: 2 });
  found.push(show(await db.keys().all()));
  return found;
}

describe('level ranges with bounds over the store key limit', () => {
  it('answer as classic-level does', async () => {
    const classic = new ClassicLevel(temporaryDirectory());
    const ladybug = new LadybugLevel(temporaryDirectory());
    const expected = await readAll(classic);
    expect(await readAll(ladybug)).toEqual(expected);
    await Promise.all([classic.close(), ladybug.close()]);
  });
});
