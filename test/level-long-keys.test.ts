/**
 * Reads and deletes of keys longer than the store's key limit (KEY_BYTES_MAX, 1,024
 * bytes) answer as classic-level does: no key that long can be stored through the
 * adapter (a put of one is refused with InvalidKeyError, the store's limit), so get
 * answers undefined, has false, getMany/hasMany answer per key, and a del (alone or in a
 * batch) is a no-op that leaves the batch's other operations applied. The adapter
 * handed such a key to the store, which refused it as a key (LADYBUG_INVALID_KEY): a
 * sublevel or an application probing for a long key got an error where classic-level
 * answers "absent".
 */
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const LONG = `${'k'.repeat(1024)}x`;
const STORED = ['a', 'k'.repeat(1024), 'z'];

interface LooseDb {
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  has(key: string): Promise<boolean>;
  getMany(keys: string[]): Promise<Array<string | undefined>>;
  hasMany(keys: string[]): Promise<boolean[]>;
  del(key: string): Promise<void>;
  batch(operations: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }>): Promise<void>;
  chainedBatch(): unknown;
  keys(): { all(): Promise<string[]> };
}

/** Every read and delete of the long key, in order, with the keys left at the end. */
async function exercise(db: LooseDb): Promise<unknown[]> {
  for (const key of STORED) await db.put(key, `v-${key.length}`);
  const answers: unknown[] = [];
  answers.push(await db.get(LONG));
  answers.push(await db.has(LONG));
  answers.push(await db.getMany(['a', LONG, 'z']));
  answers.push(await db.hasMany([LONG, 'a']));
  await db.del(LONG);
  await db.batch([{ type: 'del', key: LONG }, { type: 'put', key: 'b', value: 'v-b' }, { type: 'del', key: 'a' }]);
  await db.batch([{ type: 'del', key: LONG }]);
  const keys = await db.keys().all();
  answers.push(keys.map((key) => key.length));
  answers.push(await db.get('b'));
  return answers;
}

describe('level reads and deletes of keys over the store key limit', () => {
  it('answer as classic-level does', async () => {
    const classic = new ClassicLevel<string, string>(temporaryDirectory());
    const ladybug = new LadybugLevel<string, string>(temporaryDirectory());
    const expected = await exercise(classic as unknown as LooseDb);
    expect(expected).toEqual([undefined, false, ['v-1', undefined, 'v-1'], [false, true], [1, 1024, 1], 'v-b']);
    expect(await exercise(ladybug as unknown as LooseDb)).toEqual(expected);
    await Promise.all([classic.close(), ladybug.close()]);
  });

  it('still refuses a put of such a key (the store limit), changing nothing', async () => {
    const ladybug = new LadybugLevel<string, string>(temporaryDirectory());
    await ladybug.put('a', 'v');
    const error: unknown = await ladybug.put(LONG, 'v').then(() => undefined, (caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'LADYBUG_INVALID_KEY', reason: 'too-long' });
    await expect(ladybug.batch([{ type: 'put', key: 'b', value: 'v' }, { type: 'put', key: LONG, value: 'v' }])).rejects.toBeDefined();
    expect(await ladybug.keys().all()).toEqual(['a']);
    await ladybug.close();
  });
});
