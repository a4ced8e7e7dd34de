/**
 * Byte values on the commit path (storedBytesValue, src/codec/values.ts): the
 * encoding is written into a shared slab and kept as one EncodedValue over it. It
 * must be exactly encodeValue's bytes (what the WAL and a flush write), read back
 * as a fresh array of the same type and bytes, and never change with the caller's
 * array, the neighbouring values of its slab, or a read's result.
 */
import { describe, expect, it } from 'vitest';
import { encodeValue, readStored, storedBytesValue } from '../src/codec/values.js';
import { COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, EncodedValue } from '../src/codec/value-slabs.js';
import { MEMORY_BYTES_SLAB_VALUE, storedSizeBytes } from '../src/codec/value-memory-size.js';
import { preparePut } from '../src/commit/prepare.js';
import { ValueTooLargeError } from '../src/index.js';

const VALUE_BYTES_MAX = 1024 * 1024;

/** Lengths around every header size boundary of both byte forms, and around the largest value a slab takes. */
const LENGTHS = [0, 1, 63, 64, 65, 254, 255, 256, 4085, 4086, 4095, 4096, 4097, 8185, 8186, 8187, 8188, 8189, 65534, 65535, 65536, 70000];

function filled(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff);
}

describe('storedBytesValue', () => {
  it('keeps exactly encodeValue\'s bytes and reads back the same type and bytes, for every header size', () => {
    for (const length of LENGTHS) {
      for (const value of [Buffer.from(filled(length, length)), filled(length, length + 1)]) {
        const stored = storedBytesValue(value, VALUE_BYTES_MAX)!;
        expect(stored).toBeInstanceOf(EncodedValue);
        expect(Buffer.from(stored.bytes).equals(Buffer.from(encodeValue(value, VALUE_BYTES_MAX)))).toBe(true);
        const read = readStored(stored) as Uint8Array;
        expect(Buffer.isBuffer(read)).toBe(Buffer.isBuffer(value));
        expect(Buffer.from(read).equals(Buffer.from(value))).toBe(true);
        // Encodings up to an eighth of a slab share one; a longer one has its own array.
        expect(stored.inSlab).toBe(stored.length <= COMMIT_VALUE_SLAB_VALUE_BYTES_MAX);
        expect(stored.bytes.byteOffset % 8).toBe(0);
      }
    }
  });

  it('is a copy: the caller\'s array, a read\'s result and the next values of the slab change nothing', () => {
    const value = Buffer.from(filled(100, 7));
    const stored = storedBytesValue(value, VALUE_BYTES_MAX)!;
    const expected = Buffer.from(stored.bytes);
    value.fill(0);
    (readStored(stored) as Buffer).fill(1);
    const neighbours = Array.from({ length: 200 }, (_, index) => storedBytesValue(filled(90, index), VALUE_BYTES_MAX)!);
    expect(neighbours.some((neighbour) => neighbour.source === stored.source)).toBe(true);
    expect(Buffer.from(stored.bytes).equals(expected)).toBe(true);
    expect(Buffer.from(readStored(stored) as Buffer).equals(Buffer.from(filled(100, 7)))).toBe(true);
    neighbours.forEach((neighbour, index) => expect(Buffer.from(readStored(neighbour) as Uint8Array).equals(Buffer.from(filled(90, index)))).toBe(true));
  });

  it('refuses an encoding over maxValueBytes with ValueTooLargeError, and is undefined for anything but bytes', () => {
    // A plain Uint8Array is an ext (4 bytes of header here), a Buffer a bin (2 bytes).
    expect(() => storedBytesValue(new Uint8Array(100), 103)).toThrow(ValueTooLargeError);
    expect(storedBytesValue(new Uint8Array(100), 104)!.length).toBe(104);
    expect(() => storedBytesValue(Buffer.alloc(100), 101)).toThrow(ValueTooLargeError);
    expect(storedBytesValue(Buffer.alloc(100), 102)!.length).toBe(102);
    expect(storedBytesValue({ a: 1 }, VALUE_BYTES_MAX)).toBeUndefined();
    expect(storedBytesValue('text', VALUE_BYTES_MAX)).toBeUndefined();
  });

  it('a put writes to the WAL the bytes its slot keeps, and counts the slab value in the memory estimate', () => {
    const operation = preparePut('k', Buffer.from(filled(100, 3)), VALUE_BYTES_MAX).indexOperations[0]! as unknown as { slot: EncodedValue; value: unknown };
    // The WAL encoder takes the slot itself and copies from the slab (55d7bcf): no second copy, no view per put.
    expect(operation.value).toBe(operation.slot);
    expect(operation.slot.bytes.buffer).toBe(operation.slot.source.buffer);
    expect(operation.slot.bytes.length).toBe(102);
    expect(storedSizeBytes(operation.slot)).toBe(MEMORY_BYTES_SLAB_VALUE + 104); // 102 B, 8-byte aligned
  });

  it('carves 4 KiB values from one shared slab, back to back, each counted as a slab value (issue 12)', () => {
    // A 4 KiB Buffer encodes to 4,099 B: at the replay slab size (8 KiB, over half a slab)
    // each got an ArrayBuffer of its own.
    const values = Array.from({ length: 12 }, (_, index) => Buffer.from(filled(4096, index)));
    const stored = values.map((value) => storedBytesValue(value, VALUE_BYTES_MAX)!);
    // A new slab may start anywhere in the run: at most one boundary among 12 values of 4,104 B.
    const slabs = new Set(stored.map((value) => value.source));
    expect(slabs.size).toBeLessThanOrEqual(2);
    for (const slab of slabs) expect(slab.length).toBe(COMMIT_VALUE_SLAB_BYTES);
    for (let index = 1; index < stored.length; index++) {
      const previous = stored[index - 1]!;
      const current = stored[index]!;
      if (current.source === previous.source) expect(current.start).toBe(previous.start + 4104); // 4,099 B, 8-byte aligned
    }
    stored.forEach((value, index) => {
      expect(value.inSlab).toBe(true);
      expect(storedSizeBytes(value)).toBe(MEMORY_BYTES_SLAB_VALUE + 4369); // its share of the slab: 65,536 B / 15
      expect(Buffer.from(readStored(value) as Buffer).equals(values[index]!)).toBe(true);
    });
  });
});
