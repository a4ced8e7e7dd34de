/**
 * The empty key and 0x00 share one store value (the pair slot, key-slots.ts), so their two
 * values together must fit in the store's maxValueBytes (README, Using it with level): a
 * write of one that would make the pair too large is refused with ValueTooLargeError
 * (LADYBUG_VALUE_TOO_LARGE), typed, and changes nothing; any other key takes the same value,
 * and once the other half is deleted the write goes through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { ValueTooLargeError } from '../src/errors.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const KIB = 1024;

describe('level pair slot: the two values share maxValueBytes', () => {
  it('refuses a write that makes the pair too large, typed, nothing changed', async () => {
    const db = new LadybugLevel<string, Uint8Array>(temporaryDirectory(), { valueEncoding: 'view', store: { maxValueBytes: 64 * KIB } });
    const empty = new Uint8Array(40 * KIB).fill(1);
    const zero = new Uint8Array(40 * KIB).fill(2);
    await db.put('', empty);
    await db.put('\u0000', Uint8Array.of(9));
    const refused = await db.put('\u0000', zero).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(ValueTooLargeError);
    expect((refused as ValueTooLargeError).code).toBe('LADYBUG_VALUE_TOO_LARGE');
    expect((refused as ValueTooLargeError).sizeBytes).toBeGreaterThan(80 * KIB);
    const batchRefused = await db.batch([{ type: 'put', key: 'a', value: Uint8Array.of(1) }, { type: 'put', key: '\u0000', value: zero }]).then(() => undefined, (error: unknown) => error);
    expect(batchRefused).toBeInstanceOf(ValueTooLargeError);
    const [emptyRead, zeroRead, aRead] = await db.getMany(['', '\u0000', 'a']);
    expect(Buffer.from(emptyRead!).equals(empty)).toBe(true);
    expect(zeroRead).toEqual(Uint8Array.of(9));
    expect(aRead).toBeUndefined();
    await db.put('b', zero); // any other key takes the value
    await db.del('');
    await db.put('\u0000', zero);
    const [emptyAfter, zeroAfter, bRead] = await db.getMany(['', '\u0000', 'b']);
    expect(emptyAfter).toBeUndefined();
    expect(Buffer.from(zeroAfter!).equals(zero) && Buffer.from(bRead!).equals(zero)).toBe(true);
    await db.close();
  });
});
