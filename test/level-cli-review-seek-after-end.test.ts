/**
 * A level iterator reads as of the version current when it was created (its implicit
 * snapshot) for as long as it is open, seeks included: classic-level's iterator holds its
 * LevelDB snapshot until it is closed, and abstract-level lets an iterator that reached
 * its end seek back. The store scan behind the iterator lets go of its pin when it ends,
 * so what the iterator itself keeps pinned is what is checked here: writes, a checkpoint
 * and retention (maxVersionsPerKey 1, or a retention floor raised through db.store) after
 * the end, then a seek back must read the old entries.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

async function drain(iterator: { next(): Promise<[string, string] | undefined> }): Promise<Array<[string, string]>> {
  const entries: Array<[string, string]> = [];
  for (let entry = await iterator.next(); entry !== undefined; entry = await iterator.next()) entries.push(entry);
  return entries;
}

describe('level iterator: seek after its end reads its own version', () => {
  for (const reverse of [false, true]) {
    it(`maxVersionsPerKey 1, keys rewritten and deleted after the end (reverse: ${reverse})`, async () => {
      const db = new LadybugLevel<string, string>(temporaryDirectory(), { store: { maxVersionsPerKey: 1 } });
      await db.batch([{ type: 'put', key: 'a', value: 'a1' }, { type: 'put', key: 'b', value: 'b1' }, { type: 'put', key: '', value: 'e1' }]);
      const iterator = db.iterator({ reverse });
      const first = await drain(iterator);
      const expected: Array<[string, string]> = [['', 'e1'], ['a', 'a1'], ['b', 'b1']];
      expect(first).toEqual(reverse ? [...expected].reverse() : expected);
      await db.batch([{ type: 'put', key: 'a', value: 'a2' }, { type: 'del', key: 'b' }, { type: 'put', key: '', value: 'e2' }, { type: 'put', key: 'c', value: 'c2' }]);
      await db.store.checkpoint();
      await db.store.compact();
      iterator.seek(reverse ? 'b' : '');
      expect(await drain(iterator)).toEqual(first);
      await iterator.close();
      expect(await db.iterator().all()).toEqual([['', 'e2'], ['a', 'a2'], ['c', 'c2']]);
      await db.close();
    });
  }

  it('a retention floor raised to the newest version after the end', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    await db.batch([{ type: 'put', key: 'a', value: 'a1' }, { type: 'put', key: 'b', value: 'b1' }]);
    const iterator = db.iterator();
    expect(await drain(iterator)).toEqual([['a', 'a1'], ['b', 'b1']]);
    await db.put('a', 'a2');
    await db.del('b');
    await db.store.checkpoint();
    const result = await db.store.compact({ retainFrom: db.store.version });
    // The floor stops at what the open iterator reads (README: capped at the oldest running scan).
    expect(result.retentionFloor).toBeLessThan(db.store.version);
    iterator.seek('a');
    expect(await drain(iterator)).toEqual([['a', 'a1'], ['b', 'b1']]);
    await iterator.close();
    // Closed, it holds nothing: the floor goes up to the newest version.
    expect((await db.store.compact({ retainFrom: db.store.version })).retentionFloor).toBe(db.store.version);
    expect(await db.iterator().all()).toEqual([['a', 'a2']]);
    await db.close();
  });
});
