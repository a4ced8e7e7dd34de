/**
 * seek() to a target outside the iterator's range ends the iterator (abstract-level's
 * README, iterator.seek: "If range options like gt were passed to db.iterator() and
 * target does not fall within that range, the iterator will reach its natural end"),
 * as classic-level does. The adapter clamped the target to the range instead: a forward
 * iterator over { gt: '5' } sought to '4' yielded '6', a reverse one over { lte: '5' }
 * sought to '6' yielded '5'. abstract-level's own suite has these very cases
 * ("seek() respects range"), but it never runs them (it awaits functions, not
 * promises), so it passed. Found by model-level-random (seed 1) against classic-level.
 */
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

type Case = [range: Record<string, unknown>, target: string, expected: string | undefined];

const CASES: Case[] = [
  [{ gt: '5' }, '4', undefined], [{ gt: '5' }, '5', undefined], [{ gt: '5' }, '6', '6'],
  [{ gte: '5' }, '4', undefined], [{ gte: '5' }, '5', '5'],
  [{ lte: '5' }, '6', undefined], [{ lte: '5' }, '4', '4'], [{ lt: '5' }, '5', undefined],
  [{ lte: '5', reverse: true }, '6', undefined], [{ lt: '5', reverse: true }, '5', undefined], [{ lt: '5', reverse: true }, '4', '4'],
  [{ gte: '5', reverse: true }, '4', undefined], [{ gt: '5', reverse: true }, '6', '6'],
  [{ gt: '7', lt: '8' }, '7', undefined], [{ gte: '3', lt: '8' }, '1', undefined], [{ gt: '6', lt: '2' }, '4', undefined],
  // The pair slot's keys ('' and 0x00) as bounds and targets.
  [{ gt: '' }, '', undefined], [{ gt: '\u0000' }, '', undefined], [{ lt: '\u0000', reverse: true }, '\u0000', undefined],
  [{ gte: '\u0000' }, '\u0000', '\u0000'], [{ lte: '\u0000', reverse: true }, '', ''],
];

/** What the two databases share of the API, their typings differing in their generics. */
interface SeekableDb {
  batch(operations: Array<{ type: 'put'; key: string; value: string }>): Promise<void>;
  keys(options: object): { seek(target: string): void; next(): Promise<string | undefined>; close(): Promise<void> };
}

async function seekAll(db: SeekableDb): Promise<Array<string | undefined>> {
  await db.batch(['', '\u0000', ...'0123456789'].map((key) => ({ type: 'put' as const, key, value: key })));
  const found: Array<string | undefined> = [];
  for (const [range, target] of CASES) {
    const iterator = db.keys(range);
    iterator.seek(target);
    found.push(await iterator.next());
    await iterator.close();
  }
  return found;
}

describe('level iterator seek() outside its range', () => {
  it('ends the iterator, as abstract-level specifies and classic-level does', async () => {
    const ladybug = new LadybugLevel(temporaryDirectory());
    const classic = new ClassicLevel(temporaryDirectory());
    const expected = CASES.map(([, , key]) => key);
    expect(await seekAll(classic)).toEqual(expected);
    expect(await seekAll(ladybug)).toEqual(expected);
    await Promise.all([ladybug.close(), classic.close()]);
  });

  it('a seek back into the range after one out of it reads the iterator\'s version again', async () => {
    const db = new LadybugLevel(temporaryDirectory());
    await db.batch(['3', '5', '7'].map((key) => ({ type: 'put' as const, key, value: 'old' })));
    const iterator = db.iterator({ gte: '4' });
    iterator.seek('1');
    expect(await iterator.next()).toBeUndefined();
    await db.put('5', 'new');
    await db.store.checkpoint();
    iterator.seek('5');
    expect(await iterator.all()).toEqual([['5', 'old'], ['7', 'old']]);
    await db.close();
  });
});
