/**
 * Level writes of the empty key and 0x00 (the store's pair slot, key-slots.ts) run as
 * store transactions. Called concurrently, as level code does (no await between puts,
 * abstract-level's deferred open queueing writes), they must behave as every other
 * level write does: none fails, and they apply in call order, so the last call's value
 * is the one stored, also for a write of an ordinary key called after a batch that
 * touches the pair slot. Before, they raced as optimistic transactions on one key:
 * most retried, some ran out of retries (ConflictError, which no level write
 * documents), and a retried older write could land last.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('level pair slot: concurrent writes', () => {
  it('2,000 concurrent puts of the empty key and 0x00 all resolve, the last call of each wins', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    await db.open();
    const calls = Array.from({ length: 2000 }, (_, index) => db.put(index % 2 === 0 ? '' : '\u0000', `v${index}`));
    const results = await Promise.allSettled(calls);
    const failures = results.filter((result) => result.status === 'rejected');
    expect(failures.map((failure) => (failure as PromiseRejectedResult).reason?.code).slice(0, 3)).toEqual([]);
    expect(await db.getMany(['', '\u0000'])).toEqual(['v1998', 'v1999']);
    await db.close();
  });

  it('writes called while the database opens (deferred) apply in call order', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    const calls: Array<Promise<void>> = [];
    for (let round = 0; round < 50; round++) {
      calls.push(db.put('', `e${round}`), db.del('\u0000'), db.put('\u0000', `z${round}`));
      calls.push(db.batch([{ type: 'put', key: '', value: `b${round}` }, { type: 'put', key: 'x', value: `x${round}` }]));
      calls.push(db.put('x', `y${round}`));
    }
    await Promise.all(calls);
    expect(await db.getMany(['', '\u0000', 'x'])).toEqual(['b49', 'z49', 'y49']);
    await db.close();
  });

  it('a batch touching the pair slot, then a put of its ordinary key: the put, called last, stays', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    await db.open();
    for (let round = 0; round < 20; round++) {
      const batch = db.batch([{ type: 'put', key: '', value: `e${round}` }, { type: 'put', key: 'k', value: `batch${round}` }]);
      const put = db.put('k', `put${round}`);
      await Promise.all([batch, put]);
      expect(await db.get('k')).toBe(`put${round}`);
    }
    await db.close();
  });
});
