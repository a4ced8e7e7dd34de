/**
 * Keys and values for the workloads.
 *
 * Keys are 16 bytes: 8 prefix bytes followed by the index itself, big-endian
 * (so every index gives a distinct key). With the 'random' key order the prefix
 * is a mix of the index, so inserts land in random key order (LevelDB's
 * fillrandom); with 'sequential' it is zero and inserts ascend (fillseq). Key
 * order matters a lot to B-tree engines: lmdb-js commits 64 ascending puts far
 * faster than 64 random ones. The same index always gives the same key, which
 * lets read workloads address preloaded keys. Values are random bytes (no engine
 * gets to compress them), one shared buffer per size.
 *
 * String data (the hot-get-string workload, the store's common case): keys of
 * 16 ASCII characters (8 hex digits of the same prefix mix, then the index as 8
 * hex digits) and 100-character values, each distinct (the key followed by a
 * fixed run of random letters and digits).
 */
import { randomBytes } from 'node:crypto';

export const KEY_SIZE_BYTES = 16;

/** A value size as used in workload ids ("100b") and titles ("100 B"). */
export interface ValueSize {
  readonly bytes: number;
  readonly idSuffix: string;
  readonly label: string;
}

export const SMALL_VALUE: ValueSize = { bytes: 100, idSuffix: '100b', label: '100 B' };
export const LARGE_VALUE: ValueSize = { bytes: 4096, idSuffix: '4k', label: '4 KiB' };

export type KeyOrder = 'random' | 'sequential';

/** The 16-byte key for `index` (0 <= index < 2^53). */
export function keyAt(index: number, order: KeyOrder): Buffer {
  const key = Buffer.allocUnsafe(KEY_SIZE_BYTES);
  const low = index >>> 0;
  const high = Math.floor(index / 0x1_0000_0000) >>> 0;
  const random = order === 'random';
  key.writeUInt32BE(random ? mix32(low ^ Math.imul(high, 0x9e3779b1)) : 0, 0);
  key.writeUInt32BE(random ? mix32(low + 0x7f4a7c15) : 0, 4);
  key.writeUInt32BE(high, 8);
  key.writeUInt32BE(low, 12);
  return key;
}

export const STRING_KEY_CHARS = 16;
export const STRING_VALUE_CHARS = 100;

/** The 16-character ASCII key for `index` (0 <= index < 2^32). */
export function stringKeyAt(index: number, order: KeyOrder): string {
  if (!Number.isInteger(index) || index < 0 || index >= 0x1_0000_0000) throw new RangeError(`string key index out of range: ${index}`);
  const prefix = order === 'random' ? mix32(index + 0x7f4a7c15) : 0;
  return hex8(prefix) + hex8(index);
}

/**
 * The distinct 100-character value stored under stringKeyAt(index, order): a
 * flat string of its own (a concatenation would be a V8 cons string sharing the
 * filler, lighter than a value read from a file or socket).
 */
export function stringValueAt(index: number, order: KeyOrder): string {
  return Buffer.from(stringKeyAt(index, order) + stringFiller(), 'latin1').toString('latin1');
}

let filler: string | undefined;

function stringFiller(): string {
  if (filler === undefined) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    filler = Array.from(randomBytes(STRING_VALUE_CHARS - STRING_KEY_CHARS), (byte) => alphabet[byte % alphabet.length]).join('');
  }
  return filler;
}

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

/** The murmur3 finalizer: a cheap bijective 32-bit mix. */
function mix32(input: number): number {
  let hash = input >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** A random value of `sizeBytes`, shared by every write of that size. */
export function makeValue(sizeBytes: number): Buffer {
  return randomBytes(sizeBytes);
}

/** Hands out fresh keys 0, 1, 2, ... for write workloads. */
export class KeySequence {
  private nextIndex = 0;

  constructor(private readonly order: KeyOrder) {}

  next(): Buffer {
    const key = keyAt(this.nextIndex, this.order);
    this.nextIndex += 1;
    return key;
  }

  get issued(): number {
    return this.nextIndex;
  }
}

/** `count` indexes drawn uniformly from [0, bound), for read workloads. */
export function randomIndexes(count: number, bound: number): Uint32Array {
  const indexes = new Uint32Array(count);
  for (let position = 0; position < count; position += 1) {
    indexes[position] = Math.floor(Math.random() * bound);
  }
  return indexes;
}

/** Skewed reads: this share of reads goes to the hot keys... */
export const SKEWED_HOT_READ_SHARE = 0.8;
/** ...the first this share of key indexes. */
export const SKEWED_HOT_KEY_SHARE = 0.02;

/** A seeded xorshift32 stream in [0, 1), so every engine (and every probe) reads the same keys. */
export function seededRandom(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** `count` seeded indexes uniform over [0, bound). */
export function uniformIndexes(count: number, bound: number, seed: number): Uint32Array {
  const random = seededRandom(seed);
  return Uint32Array.from({ length: count }, () => Math.floor(random() * bound));
}

/** `count` seeded indexes, SKEWED_HOT_READ_SHARE of them on the first SKEWED_HOT_KEY_SHARE of [0, bound). */
export function skewedIndexes(count: number, bound: number, seed: number): Uint32Array {
  const random = seededRandom(seed);
  const hotBound = Math.max(1, Math.floor(bound * SKEWED_HOT_KEY_SHARE));
  return Uint32Array.from({ length: count }, () => Math.floor(random() * (random() < SKEWED_HOT_READ_SHARE ? hotBound : bound)));
}
