/**
 * Byte values (a Buffer, a plain Uint8Array) skip msgpackr in src/codec/values.ts.
 * The bytes written must be exactly msgpackr's, or a WAL record or run written before
 * the fast path (or by it) would read back differently; and every read must hand out
 * a copy, never a view into the store's own bytes.
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue, prepareValue, readStored, storedFromEncoded } from '../src/codec/values.js';
import { ValueTooLargeError } from '../src/errors.js';
import { openStore } from '../src/index.js';

const reference = new Packr({ useRecords: false, moreTypes: true });
const referenceDecoder = new Unpackr({ useRecords: false, moreTypes: true });
// Every header size and its edges: a Uint8Array's extension length is its length + 1.
// 64 and 65: the edge of the byte-by-byte copy of a read (BYTES_COPIED_BY_LOOP_MAX).
const LENGTHS = [0, 1, 2, 15, 16, 17, 63, 64, 65, 100, 253, 254, 255, 256, 257, 4095, 4096, 65533, 65534, 65535, 65536, 70_000];

function patterned(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + 7) & 0xff;
  return bytes;
}

describe('byte values: msgpackr bytes, written directly', () => {
  it.each(LENGTHS)('a Buffer and a Uint8Array of %i bytes encode exactly as msgpackr encodes them', (length) => {
    const buffer = patterned(length);
    const array = new Uint8Array(buffer);
    expect(Buffer.from(prepareValue(buffer, 1 << 20).encoded).equals(Buffer.from(reference.pack(buffer)))).toBe(true);
    expect(Buffer.from(prepareValue(array, 1 << 20).encoded).equals(Buffer.from(reference.pack(array)))).toBe(true);
  });

  it.each(LENGTHS)('%i bytes read back with their type and content, from memory, the WAL form and a run', (length) => {
    for (const value of [patterned(length), new Uint8Array(patterned(length))]) {
      const prepared = prepareValue(value, 1 << 20);
      for (const read of [readStored(prepared.stored), readStored(storedFromEncoded(prepared.encoded)), decodeValue(prepared.encoded)]) {
        expect((read as object).constructor).toBe(value.constructor);
        expect(Buffer.from(read as Uint8Array).equals(Buffer.from(value))).toBe(true);
        // The same answer msgpackr itself gives for these bytes.
        expect(Buffer.from(read as Uint8Array).equals(Buffer.from(referenceDecoder.unpack(prepared.encoded) as Uint8Array))).toBe(true);
      }
    }
  });

  it.each(LENGTHS)('two reads of %i stored bytes are two copies: neither shares memory with the store or the other', (length) => {
    const prepared = prepareValue(patterned(length), 1 << 20);
    const first = readStored(prepared.stored) as Buffer;
    const second = readStored(prepared.stored) as Buffer;
    first.fill(0xee);
    expect(Buffer.from(second).equals(patterned(length))).toBe(true);
    expect(Buffer.from(readStored(prepared.stored) as Uint8Array).equals(patterned(length))).toBe(true);
  });

  it('a value larger than maxValueBytes is refused with its encoded size', () => {
    const error = (() => {
      try {
        prepareValue(Buffer.alloc(300), 300);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect((error as ValueTooLargeError).message).toContain('303');
  });

  it('other typed arrays still go through msgpackr; a Uint8Array subclass is stored as a plain Uint8Array (msgpackr wrote one it cannot decode)', () => {
    expect(Buffer.from(prepareValue(new Uint16Array([1, 2, 3]), 1 << 20).encoded).equals(Buffer.from(reference.pack(new Uint16Array([1, 2, 3]))))).toBe(true);
    class Tagged extends Uint8Array {}
    expect(Buffer.from(prepareValue(new Tagged([4, 5]), 1 << 20).encoded).equals(Buffer.from(reference.pack(new Uint8Array([4, 5]))))).toBe(true);
  });
});

describe('reads hand out copies', () => {
  let directory: string | undefined;
  afterEach(async () => {
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    directory = undefined;
  });

  it('writing into a Buffer or Uint8Array that was read, top level or nested, changes nothing stored (memtable and run)', async () => {
    directory = await mkdtemp(join(tmpdir(), 'ladybug-values-bytes-'));
    const store = await openStore(directory);
    try {
      await store.put('buffer', Buffer.from([1, 2, 3]));
      await store.put('array', new Uint8Array([1, 2, 3]));
      await store.put('nested', { inner: Buffer.from([1, 2, 3]) });
      const scribble = async (): Promise<void> => {
        ((await store.get('buffer')) as Uint8Array)[0] = 99;
        ((await store.get('array')) as Uint8Array)[0] = 99;
        ((await store.get('nested')) as { inner: Uint8Array }).inner[0] = 99;
      };
      const expectUnchanged = async (): Promise<void> => {
        expect([...((await store.get('buffer')) as Uint8Array)]).toEqual([1, 2, 3]);
        expect([...((await store.get('array')) as Uint8Array)]).toEqual([1, 2, 3]);
        expect([...((await store.get('nested')) as { inner: Uint8Array }).inner]).toEqual([1, 2, 3]);
      };
      await scribble();
      await expectUnchanged();
      await store.checkpoint(); // now read from a run (and its cached blocks)
      await scribble();
      await expectUnchanged();
    } finally {
      await store.close();
    }
  });
});
