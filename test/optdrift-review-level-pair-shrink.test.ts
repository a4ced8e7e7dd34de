/**
 * A store reopened with a lower maxValueBytes than it was written with: the level
 * adapter's pair slot (the empty key and 0x00 share one store value, key-slots.ts) may
 * hold a pair over the new limit. A write that only deletes halves of it shrinks the
 * pair and is never refused for its size (the delete of an ordinary key never is);
 * a put into it is still held to the limit (README, Using it with level), and every
 * value stored reads back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { ValueTooLargeError } from '../src/errors.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const KIB = 1024;
const big = new Uint8Array(40 * KIB).fill(1);

async function writtenUnderLargeLimit(): Promise<string> {
  const location = temporaryDirectory();
  const db = new LadybugLevel<string, Uint8Array>(location, { valueEncoding: 'view', store: { maxValueBytes: 64 * KIB } });
  await db.put('', big);
  await db.put('\u0000', Uint8Array.of(9));
  await db.put('a', big);
  await db.close();
  return location;
}

function reopened(location: string): LadybugLevel<string, Uint8Array> {
  return new LadybugLevel<string, Uint8Array>(location, { valueEncoding: 'view', store: { maxValueBytes: KIB } });
}

describe('level pair slot over a lowered maxValueBytes', () => {
  it('reads both halves back and deletes the small half, the large one kept', async () => {
    const db = reopened(await writtenUnderLargeLimit());
    const [empty, zero, a] = await db.getMany(['', '\u0000', 'a']);
    expect(Buffer.from(empty!).equals(big) && Buffer.from(a!).equals(big)).toBe(true);
    expect(zero).toEqual(Uint8Array.of(9));
    await db.del('\u0000');
    await db.del('a');
    const after = await db.getMany(['', '\u0000', 'a']);
    expect(Buffer.from(after[0]!).equals(big)).toBe(true);
    expect(after.slice(1)).toEqual([undefined, undefined]);
    await db.close();
  });

  it('clears a range holding only 0x00, and a batch deleting it with an ordinary put', async () => {
    const location = await writtenUnderLargeLimit();
    let db = reopened(location);
    await db.clear({ gt: '', lt: 'a' });
    const [empty, zero] = await db.getMany(['', '\u0000']);
    expect(Buffer.from(empty!).equals(big)).toBe(true);
    expect(zero).toBeUndefined();
    await db.put('\u0000', Uint8Array.of(8)).then(() => { throw new Error('a put into a pair over the limit went through'); }, (error: unknown) => {
      expect(error).toBeInstanceOf(ValueTooLargeError);
    });
    await db.batch([{ type: 'del', key: '\u0000' }, { type: 'put', key: 'b', value: Uint8Array.of(7) }]);
    expect(await db.get('b')).toEqual(Uint8Array.of(7));
    await db.close();
    db = reopened(location);
    expect(Buffer.from((await db.get(''))!).equals(big)).toBe(true);
    expect(await db.get('\u0000')).toBeUndefined();
    await db.del(''); // the whole pair goes: a delete
    expect(await db.get('')).toBeUndefined();
    await db.close();
  });
});
