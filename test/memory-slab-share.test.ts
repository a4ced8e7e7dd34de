/**
 * The memory estimate of slab values (codec/value-memory-size.ts): byte values put
 * are carved from 64 KiB slabs (codec/value-slabs.ts), and what the memtable holds
 * is whole slabs, tails included. The estimate's value bytes, summed over values
 * that fill whole slabs, must be those slabs' bytes: for 4 KiB values (15 to a slab,
 * 2,520 B left over) the tails are 6%, which the memtable's figure left out.
 * test/memory-budget.test.ts checks the same against measured heap growth.
 */
import { describe, expect, it } from 'vitest';
import { storedBytesValue } from '../src/codec/values.js';
import { COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, EncodedValue, ValueSlabs } from '../src/codec/value-slabs.js';
import { MEMORY_BYTES_SLAB_VALUE, storedSizeBytes } from '../src/codec/value-memory-size.js';

const VALUE_BYTES_MAX = 1024 * 1024;

/** Values of `lengthAt(index)` bytes put until `slabCount` whole slabs are filled, starting at a fresh slab. */
function fillSlabs(slabCount: number, lengthAt: (index: number) => number): EncodedValue[] {
  // Carve until a value starts a slab (the slab an earlier test began is left behind).
  let first = storedBytesValue(Buffer.alloc(lengthAt(0)), VALUE_BYTES_MAX)!;
  while (first.start !== 0) first = storedBytesValue(Buffer.alloc(lengthAt(0)), VALUE_BYTES_MAX)!;
  const values = [first];
  const slabs = new Set([first.source]);
  for (let index = 1; ; index++) {
    const value = storedBytesValue(Buffer.alloc(lengthAt(index)), VALUE_BYTES_MAX)!;
    if (!slabs.has(value.source) && slabs.size === slabCount) return values; // the next slab began: the last one is full
    slabs.add(value.source);
    values.push(value);
  }
}

function valueBytesEstimated(values: EncodedValue[]): number {
  return values.reduce((sum, value) => {
    expect(value.inSlab).toBe(true);
    return sum + storedSizeBytes(value) - MEMORY_BYTES_SLAB_VALUE;
  }, 0);
}

describe('slab values are charged their share of the slab', () => {
  it('4 KiB values filling 20 slabs are counted as the 20 slabs\' bytes, tails included (issue 12)', () => {
    const values = fillSlabs(20, () => 4096); // 4,099 B encoded, 4,104 aligned
    expect(values.length).toBe(20 * 15);
    const heldBytes = 20 * COMMIT_VALUE_SLAB_BYTES;
    const estimatedBytes = valueBytesEstimated(values);
    // Each share is rounded down to a whole byte: under one byte per value low, never high.
    expect(estimatedBytes).toBeLessThanOrEqual(heldBytes);
    expect(estimatedBytes).toBeGreaterThan(heldBytes - values.length);
  });

  it('100 B values are charged their aligned bytes (630 to a slab, 16 B left)', () => {
    const values = fillSlabs(3, () => 100); // 102 B encoded, 104 aligned
    expect(values.length).toBe(3 * 630);
    for (const value of values) expect(storedSizeBytes(value)).toBe(MEMORY_BYTES_SLAB_VALUE + 104);
  });

  it('mixed sizes up to the largest carved value: off by less than one largest value per slab', () => {
    let state = 2463534242;
    const lengthAt = (): number => {
      state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
      return 1 + (state % (COMMIT_VALUE_SLAB_VALUE_BYTES_MAX - 3)); // a Buffer's encoding has 3 B of header at most here
    };
    const slabCount = 40;
    const values = fillSlabs(slabCount, lengthAt);
    const heldBytes = slabCount * COMMIT_VALUE_SLAB_BYTES;
    const estimatedBytes = valueBytesEstimated(values);
    const alignedBytes = values.reduce((sum, value) => sum + Math.ceil(value.length / 8) * 8, 0);
    console.log(`mixed: ${values.length} values, slabs ${heldBytes} B, aligned values ${alignedBytes} B, estimate ${estimatedBytes} B`);
    // Closer to the slabs' bytes than the values' own bytes are, and within a largest value per slab.
    expect(Math.abs(estimatedBytes - heldBytes)).toBeLessThan(heldBytes - alignedBytes);
    expect(Math.abs(estimatedBytes - heldBytes)).toBeLessThan(slabCount * COMMIT_VALUE_SLAB_VALUE_BYTES_MAX);
  });

  it('replay\'s 8 KiB slabs: a value of 3,000 B is half a slab (two fit), its share 4,096 B', () => {
    const slabs = new ValueSlabs(8192);
    const encoded = Buffer.from(storedBytesValue(Buffer.alloc(2997), VALUE_BYTES_MAX)!.bytes); // 3,000 B encoded
    const value = slabs.copyValue(encoded, 0, encoded.length);
    expect(value.inSlab).toBe(true);
    expect(storedSizeBytes(value)).toBe(MEMORY_BYTES_SLAB_VALUE + 4096);
  });
});
