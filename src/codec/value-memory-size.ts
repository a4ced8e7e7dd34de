/**
 * The memory estimate of values: heap bytes a stored value (and an internal key's
 * string) holds, counted into a memtable's size and the point cache's charge, which
 * the memory budget seals, stalls and evicts by.
 *
 * The figures are measured (limits.ts, next to MEMORY_BYTES_PER_KEY: heap plus
 * ArrayBuffer bytes after a forced GC, on Node 20, x64); every size here is a
 * whole number of MEMORY_BYTES_HEAP_ALIGNMENT words. A value shared with the caller
 * (a string it still holds) is counted all the same.
 */
import {
  MEMORY_BYTES_BYTES_VALUE,
  MEMORY_BYTES_ENCODED_VALUE,
  MEMORY_BYTES_HEAP_ALIGNMENT,
  MEMORY_BYTES_HEAP_NUMBER,
  MEMORY_BYTES_PACK_BUFFER,
  MEMORY_BYTES_PACK_BUFFER_TAIL,
  MEMORY_BYTES_STRING_HEADER,
} from '../limits.js';
import { bytesStartIn } from './bytes-encoding.js';
import { EncodedValue } from './value-slabs.js';
import type { StoredValue } from './values.js';

/**
 * A byte value whose encoding lies in a slab (commit path, replay): the EncodedValue
 * object alone (three fields, 48 B), bytes not included (those are its share of the
 * slab, slabShareBytes). Measured as limits.ts'
 * figures are (heap plus ArrayBuffer bytes after a forced GC, 200k values).
 */
export const MEMORY_BYTES_SLAB_VALUE = 48;

/**
 * Heap bytes a stored value holds, for the memory estimate (the measured figures
 * are in limits.ts, next to MEMORY_BYTES_PER_KEY). A value shared with the caller
 * (a string it still holds) is counted all the same.
 */
export function storedSizeBytes(stored: StoredValue): number {
  if (stored instanceof EncodedValue) {
    const length = stored.length;
    if (bytesStartIn(stored.source, stored.start, stored.start + length) >= 0) {
      return stored.inSlab ? MEMORY_BYTES_SLAB_VALUE + slabShareBytes(alignToHeap(length), stored.source.length) : MEMORY_BYTES_BYTES_VALUE + alignToHeap(length);
    }
    return MEMORY_BYTES_ENCODED_VALUE + packedBytes(length);
  }
  switch (typeof stored) {
    case 'string':
      return stringSizeBytes(stored);
    case 'number':
      return isSmallInteger(stored) ? 0 : MEMORY_BYTES_HEAP_NUMBER;
    case 'bigint':
      return MEMORY_BYTES_HEAP_NUMBER + 8 * Math.ceil(Math.max(1, (stored < 0n ? -stored : stored).toString(16).length) / 16);
    default:
      return 0; // booleans and null are shared oddballs
  }
}

/** Chars that need V8's two-byte representation (any char above U+00FF). */
const TWO_BYTE_CHAR = /[^\u0000-\u00ff]/;

/** Heap bytes of a flat V8 string: one byte per char if every char fits Latin-1, else two. */
export function stringSizeBytes(text: string): number {
  const charBytes = TWO_BYTE_CHAR.test(text) ? 2 : 1;
  return alignToHeap(MEMORY_BYTES_STRING_HEADER + charBytes * text.length);
}

/** Heap bytes of a flat V8 one-byte string of `length` chars (an internal key). */
export function oneByteStringSizeBytes(length: number): number {
  return alignToHeap(MEMORY_BYTES_STRING_HEADER + length);
}

/**
 * A slab value's share of its slab (value-slabs.ts): the slab divided among as many
 * values of its aligned size as fit, so the tail they leave unused (a value that does
 * not fit starts the next slab) is charged to them. 65,536 / 15 = 4,369 B for a 4 KiB
 * value (4,099 B encoded, 4,104 aligned: 15 fill 61,560 B), 104 B for 100 B values (630 fit,
 * 16 B left). Exact for values of one size; for mixed sizes each is charged as if its
 * slab held only its size, and a slab's charge is off by about its largest value at
 * most (the tail is under the value that did not fit; at most an eighth of a slab on
 * the commit path). Two divisions, no state: the memtable and the point cache add
 * and take back the same figure for a value.
 */
function slabShareBytes(alignedBytes: number, slabBytes: number): number {
  if (alignedBytes === 0) return 0;
  return Math.floor(slabBytes / Math.floor(slabBytes / alignedBytes));
}

function alignToHeap(sizeBytes: number): number {
  return Math.ceil(sizeBytes / MEMORY_BYTES_HEAP_ALIGNMENT) * MEMORY_BYTES_HEAP_ALIGNMENT;
}

/** V8 keeps integers in [-2^31, 2^31) inline (Smi); anything else is a heap number. */
function isSmallInteger(value: number): boolean {
  return Number.isInteger(value) && value >= -0x8000_0000 && value < 0x8000_0000 && !Object.is(value, -0);
}

/**
 * Bytes an encoding keeps alive in msgpackr's shared output buffers: word-aligned,
 * plus its share of the tail lost when a buffer is left with less than
 * MEMORY_BYTES_PACK_BUFFER_TAIL (a buffer is used up to between its size minus the
 * tail and that plus about half a value). A value too large for one buffer gets its
 * own, with on average half a tail lost.
 */
function packedBytes(lengthBytes: number): number {
  const aligned = alignToHeap(lengthBytes);
  const usedBytes = MEMORY_BYTES_PACK_BUFFER - MEMORY_BYTES_PACK_BUFFER_TAIL + aligned / 2;
  if (aligned >= MEMORY_BYTES_PACK_BUFFER - MEMORY_BYTES_PACK_BUFFER_TAIL) return aligned + MEMORY_BYTES_PACK_BUFFER_TAIL / 2;
  return Math.ceil((aligned * MEMORY_BYTES_PACK_BUFFER) / usedBytes);
}
