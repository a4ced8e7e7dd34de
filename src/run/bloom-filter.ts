/**
 * The bloom filters of a run file's distinct keys (docs/FORMAT.md, "Filter block").
 *
 * Two filter kinds, named by the u16 at payload offset 6 of each filter block or
 * partition (FilterKind):
 *
 * - doubleHashing (kind 0, every run written before the blocked filter): one
 *   xxHash64 of the key bytes, split into two u32 halves h1 and h2 (h2 forced
 *   odd); probe i sets bit (h1 + i * h2) mod bitCount (double hashing, exact in a
 *   JS number since both terms are below 2^35). Its k probes land on k scattered
 *   cache lines of the filter: at 10M keys the probes of the ~40 runs a uniform
 *   get asks were ~37% of its CPU, mostly cache misses (issue 7).
 * - cacheLineBlocked (kind 1, what the writer writes now): the filter is an array
 *   of BLOCKED_BLOOM_BLOCK_BYTES (64-byte, one cache line) blocks; the key's block
 *   is h1 mod blockCount, and its k bits all lie in that block: with
 *   m = h2 (forced odd, as above), probe i (from 1 to k) multiplies
 *   m = (m * BLOCKED_BLOOM_MULTIPLIER) mod 2^32 and sets bit m >> 23 (0..511) of
 *   the block. One cache line per run asked instead of k, and one remainder
 *   instead of two; about 1% false positives at 10 bits per key with
 *   RUN_BLOCKED_BLOOM_PROBES probes (test/bloom-blocked.test.ts measures it).
 *
 * Bit b of a filter (or of a block) lives in byte b >> 3, bit b & 7, in both kinds.
 * Computed without a modulo per probe (a floating-point `%` each, 17% of a point
 * read's CPU across many runs): the first bit is h1 mod bitCount, each next one
 * adds h2 mod bitCount and subtracts bitCount once if it passed it, which is the
 * same bit since every term stays below 2^33. The remainders use remainderU32 (no
 * floating-point `%`). A point read hashes its key once for all the runs it asks
 * (KeyProbe).
 *
 * Invariants: a doubleHashing filter's bitCount is a multiple of 8 and at least
 * RUN_BLOOM_BITS_MIN; a cacheLineBlocked filter's is a multiple of
 * BLOCKED_BLOOM_BLOCK_BITS; a key that was added always answers true (no false
 * negatives) in either kind.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { signedKeyPrefix } from './key-prefix.js';
import { isXxHash64, xxhash64OfKey, xxhashHalves } from './xxhash64-halves.js';

/** Bits per distinct key: about 0.8% false positives with RUN_BLOOM_PROBES probes. */
export const RUN_BLOOM_BITS_PER_KEY = 10;
/** Probes per key (ln 2 * 10 bits per key rounds to 7). */
export const RUN_BLOOM_PROBES = 7;
export const RUN_BLOOM_BITS_MIN = 64;
/** Largest filter: bit indexes stay below 2^32. */
export const RUN_BLOOM_BITS_MAX = 2 ** 32 - 8;

/** The filter kinds a filter block or partition names (docs/FORMAT.md, "Filter block"). */
export const FilterKind = { doubleHashing: 0, cacheLineBlocked: 1 } as const;
export type FilterKindValue = (typeof FilterKind)[keyof typeof FilterKind];
/** The kind the run writer writes. */
export const RUN_FILTER_KIND_WRITTEN: FilterKindValue = FilterKind.cacheLineBlocked;
/** One block of a cacheLineBlocked filter: a cache line. */
export const BLOCKED_BLOOM_BLOCK_BYTES = 64;
export const BLOCKED_BLOOM_BLOCK_BITS = BLOCKED_BLOOM_BLOCK_BYTES * 8;
/** Probes per key of a cacheLineBlocked filter (6 measured lower than 7 at 10 bits per key: 512-bit blocks fill unevenly). */
export const RUN_BLOCKED_BLOOM_PROBES = 6;
/** 2^32 / golden ratio: each probe multiplies the in-block hash by it (mod 2^32) and takes the top 9 bits. */
export const BLOCKED_BLOOM_MULTIPLIER = 0x9e3779b9;
/** The shift that leaves the top log2(BLOCKED_BLOOM_BLOCK_BITS) = 9 bits of a u32. */
const BLOCKED_BLOOM_BIT_SHIFT = 23;
/** Probe counts a filter header may name (both kinds). */
export const RUN_BLOOM_PROBES_MAX = 32;
assert(BLOCKED_BLOOM_BLOCK_BITS === 1 << (32 - BLOCKED_BLOOM_BIT_SHIFT), 'a probe\'s top bits address exactly one block');
assert(RUN_BLOOM_BITS_MAX >= BLOCKED_BLOOM_BLOCK_BITS && RUN_BLOCKED_BLOOM_PROBES <= RUN_BLOOM_PROBES_MAX && RUN_BLOOM_PROBES <= RUN_BLOOM_PROBES_MAX, 'filter constants agree');

const keyScratch = Buffer.alloc(1024 * 4);
/** Keys up to this many chars are copied into keyScratch char by char, longer ones by Buffer#write. */
const SHORT_KEY_CHARS = 64;
/** Views of keyScratch by length, made once each: hashing a key allocates no Buffer object. */
const keyScratchViews: Buffer[] = [];

function keyScratchView(length: number): Buffer {
  let view = keyScratchViews[length];
  if (view === undefined) {
    view = keyScratch.subarray(0, length);
    keyScratchViews[length] = view;
  }
  return view;
}

/** One u64 seen as its two u32 words: [0] the low half, [1] the high half (asserted below). */
const hashSplitter = new BigUint64Array(1);
const hashHalves = new Uint32Array(hashSplitter.buffer);
hashSplitter[0] = 0x0000000100000002n;
assert(hashHalves[0] === 2 && hashHalves[1] === 1, 'a u64 splits into its low word then its high word');

/**
 * The last key hashed and its hash: a point read asks every run's filter about the
 * same key one after another, so it hashes once, not once per run (one hash, many
 * runs). Keyed by the hash function too, since stores may use different ones.
 */
let lastHashFunction: Hash64 | undefined;
let lastHashedKey: string | undefined;
let lastKeyHash = 0n;
let lastFirst = 0;
let lastStep = 1;

/** The 64-bit xxHash of an internal key's bytes (the last key's hash is reused). */
export function keyHash(hash: Hash64, key: string): bigint {
  if (key === lastHashedKey && hash === lastHashFunction) return lastKeyHash;
  const length = key.length;
  assert(length <= keyScratch.length, 'key fits the hashing scratch buffer');
  // A short key char by char (cheaper than a native latin1 write; the same bytes: internal keys hold chars below 256).
  if (length > SHORT_KEY_CHARS) keyScratch.write(key, 0, 'latin1');
  else for (let index = 0; index < length; index++) keyScratch[index] = key.charCodeAt(index);
  const keyHash64 = hash(keyScratchView(length));
  lastHashFunction = hash;
  lastHashedKey = key;
  lastKeyHash = keyHash64;
  // The halves through a typed array (little-endian words of the u64, checked at load):
  // no BigInt made by `&` and `>>` per key (a run writer hashes every distinct key).
  hashSplitter[0] = keyHash64;
  lastFirst = hashHalves[0]!;
  lastStep = (hashHalves[1]! | 1) >>> 0;
  return keyHash64;
}

/**
 * Hashes `key` (as keyHash) and stores its two probe halves, first and step (as
 * probeStart splits them), at `halves[2 * slot]` and `halves[2 * slot + 1]`: a run
 * writer keeps every distinct key's hash until it builds the filter, as two u32s
 * rather than a BigInt each (issue 7, load RSS: a heap BigInt per key and more per probe).
 */
export function storeKeyHashHalves(hash: Hash64, key: string, halves: Uint32Array, slot: number): void {
  keyHash(hash, key);
  halves[2 * slot] = lastFirst;
  halves[2 * slot + 1] = lastStep;
}

/** False: `key` was never added to the filter `bits`. The key's hash is computed once for all the runs a read asks. */
export function bloomMayContainKey(bits: Uint8Array, probes: number, hash: Hash64, key: string): boolean {
  keyHash(hash, key);
  return bloomMayContainHalves(bits, probes, lastFirst, lastStep);
}

export function bloomBitCount(keyCount: number): number {
  const bits = Math.max(RUN_BLOOM_BITS_MIN, Math.ceil((keyCount * RUN_BLOOM_BITS_PER_KEY) / 8) * 8);
  assert(bits <= RUN_BLOOM_BITS_MAX, `bloom filter of ${keyCount} keys fits u32 bit indexes`);
  return bits;
}

function probeStart(keyHash64: bigint): { first: number; step: number } {
  const first = Number(keyHash64 & 0xffffffffn);
  const step = Number(keyHash64 >> 32n) | 1;
  return { first, step: step >>> 0 };
}

/** Sets the key's bits in `bits` (bitCount = bits.length * 8). */
export function bloomAdd(bits: Uint8Array, probes: number, keyHash64: bigint): void {
  const bitCount = bits.length * 8;
  const { first, step } = probeStart(keyHash64);
  const delta = step % bitCount;
  let bit = first % bitCount;
  for (let probe = 0; probe < probes; probe++) {
    bits[bit >>> 3]! |= 1 << (bit & 7);
    bit += delta;
    if (bit >= bitCount) bit -= bitCount;
  }
}

/** bloomAdd with the hash already split (first = low u32, step = high u32 forced odd): no BigInt. */
export function bloomAddHalves(bits: Uint8Array, probes: number, first: number, step: number): void {
  const bitCount = bits.length * 8;
  // remainderU32, not `%`: a u32 above 2^31 makes `%` a floating-point modulo (per key of a run's filter).
  const delta = remainderU32(step, bitCount);
  let bit = remainderU32(first, bitCount);
  for (let probe = 0; probe < probes; probe++) {
    bits[bit >>> 3]! |= 1 << (bit & 7);
    bit += delta;
    if (bit >= bitCount) bit -= bitCount;
  }
}

/** False: the key was never added. True: it may have been. */
export function bloomMayContain(bits: Uint8Array, probes: number, keyHash64: bigint): boolean {
  return bloomMayContainHalves(bits, probes, Number(keyHash64 & 0xffffffffn), (Number(keyHash64 >> 32n) | 1) >>> 0);
}

/**
 * bloomMayContain with the hash already split (first = low u32, step = high u32
 * forced odd, as probeStart does): the read path splits once per key, not per run.
 */
export function bloomMayContainHalves(bits: Uint8Array, probes: number, first: number, step: number): boolean {
  const bitCount = bits.length * 8;
  const delta = remainderU32(step, bitCount);
  let bit = remainderU32(first, bitCount);
  for (let probe = 0; probe < probes; probe++) {
    if (((bits[bit >>> 3] as number) & (1 << (bit & 7))) === 0) return false;
    bit += delta;
    if (bit >= bitCount) bit -= bitCount;
  }
  return true;
}

/**
 * `value % divisor` for u32 `value` and 0 < `divisor` < 2^32 without `%`: a u32 above
 * 2^31 is no small integer to V8, so `%` is a floating-point modulo (a C fmod call,
 * two per run a point read asks). Exact: the quotient's rounding error is below
 * 2^-53 relative while the distance of value / divisor from the next integer above
 * is at least 1 / divisor, i.e. at least 2^-32 relative, so the floor is the true
 * quotient, and the product and difference stay below 2^32 (exact in a double).
 */
export function remainderU32(value: number, divisor: number): number {
  return value - Math.floor(value / divisor) * divisor;
}

/**
 * A key's probe halves (first, step) for the filters of every run a point read asks:
 * the read hashes the key once (KeyProbe.of) and passes it to each run, since every
 * run uses the same hash of the same key bytes (docs/FORMAT.md, "Filter block").
 */
export class KeyProbe {
  /** The hash function and key it was made with (a reader asserts both match its own). */
  readonly hash: Hash64;
  readonly key: string;
  readonly first: number;
  readonly step: number;
  /** signedKeyPrefix(key) (key-prefix.ts): each run compares it with its key range's and its top-level index's last keys' prefixes before any key bytes. */
  readonly prefix: number;

  private constructor(hash: Hash64, key: string, first: number, step: number, prefix: number) {
    this.hash = hash;
    this.key = key;
    this.first = first;
    this.step = step;
    this.prefix = prefix;
  }

  /**
   * Hashes `key` (its latin1 bytes, as keyHash) once for all the runs a read asks: with
   * the store's XXH64, in JavaScript on u32 halves (xxhash64-halves.ts, as the run writer
   * hashes the keys it adds: the same halves), not through the wasm hash, whose result
   * is a BigInt split through a typed array.
   */
  static of(hash: Hash64, key: string): KeyProbe {
    if (isXxHash64(hash)) {
      xxhash64OfKey(key);
      return new KeyProbe(hash, key, xxhashHalves[0]!, (xxhashHalves[1]! | 1) >>> 0, signedKeyPrefix(key));
    }
    keyHash(hash, key);
    return new KeyProbe(hash, key, lastFirst, lastStep, signedKeyPrefix(key));
  }
}

/** False: the key `probe` was made for was never added to the filter `bits`. */
export function bloomMayContainProbe(bits: Uint8Array, probes: number, probe: KeyProbe): boolean {
  return bloomMayContainHalves(bits, probes, probe.first, probe.step);
}

/** Bit of probe `probe` by the defining formula (h1 + probe * h2) mod bitCount: what the incremental loops must match (tests). */
export function bloomProbeBit(first: number, step: number, probe: number, bitCount: number): number {
  return (first + probe * step) % bitCount;
}

// ---- The cache-line-blocked filter (FilterKind.cacheLineBlocked) ----

/** Bits of a cacheLineBlocked filter of `keyCount` keys: RUN_BLOOM_BITS_PER_KEY each, rounded up to whole blocks (at least one). */
export function blockedBloomBitCount(keyCount: number): number {
  const blocks = Math.max(1, Math.ceil((keyCount * RUN_BLOOM_BITS_PER_KEY) / BLOCKED_BLOOM_BLOCK_BITS));
  const bits = blocks * BLOCKED_BLOOM_BLOCK_BITS;
  assert(bits <= RUN_BLOOM_BITS_MAX, `blocked bloom filter of ${keyCount} keys fits u32 bit indexes`);
  return bits;
}

/** Sets the key's bits (hash halves as storeKeyHashHalves keeps them: first = h1, step = h2 | 1) in the blocked filter `bits`. */
export function blockedBloomAddHalves(bits: Uint8Array, probes: number, first: number, step: number): void {
  const blockCount = bits.length / BLOCKED_BLOOM_BLOCK_BYTES;
  assert(Number.isInteger(blockCount) && blockCount > 0, 'a blocked filter is whole blocks');
  const base = remainderU32(first, blockCount) * BLOCKED_BLOOM_BLOCK_BYTES;
  let mixed = step;
  for (let probe = 0; probe < probes; probe++) {
    mixed = Math.imul(mixed, BLOCKED_BLOOM_MULTIPLIER);
    const bit = mixed >>> BLOCKED_BLOOM_BIT_SHIFT;
    bits[base + (bit >>> 3)]! |= 1 << (bit & 7);
  }
}

/** False: the key with hash halves (first, step) was never added to the blocked filter `bits`. All probes read one 64-byte block. */
export function blockedBloomMayContainHalves(bits: Uint8Array, probes: number, first: number, step: number): boolean {
  const base = remainderU32(first, bits.length >>> 6) << 6; // BLOCKED_BLOOM_BLOCK_BYTES = 2^6; bits.length < 2^29
  let mixed = step;
  for (let probe = 0; probe < probes; probe++) {
    mixed = Math.imul(mixed, BLOCKED_BLOOM_MULTIPLIER);
    const bit = mixed >>> BLOCKED_BLOOM_BIT_SHIFT;
    if (((bits[base + (bit >>> 3)] as number) & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

/** Bit `probe` (0-based) of the key's block by the defining formula, with BigInt arithmetic (what the loops must match: tests). */
export function blockedBloomProbeBit(first: number, step: number, probe: number, bitCount: number): number {
  const blockCount = bitCount / BLOCKED_BLOOM_BLOCK_BITS;
  let mixed = BigInt(step);
  for (let index = 0; index <= probe; index++) mixed = (mixed * BigInt(BLOCKED_BLOOM_MULTIPLIER)) % 2n ** 32n;
  return (first % blockCount) * BLOCKED_BLOOM_BLOCK_BITS + Number(mixed >> 23n);
}

// ---- Either kind ----

/** Bits of a filter of `kind` holding `keyCount` keys. */
export function filterBitCount(kind: FilterKindValue, keyCount: number): number {
  return kind === FilterKind.cacheLineBlocked ? blockedBloomBitCount(keyCount) : bloomBitCount(keyCount);
}

/** Probes per key the writer uses for `kind`. */
export function filterProbes(kind: FilterKindValue): number {
  return kind === FilterKind.cacheLineBlocked ? RUN_BLOCKED_BLOOM_PROBES : RUN_BLOOM_PROBES;
}

/** Adds a key (hash halves) to a filter of `kind`. */
export function filterAddHalves(kind: FilterKindValue, bits: Uint8Array, probes: number, first: number, step: number): void {
  if (kind === FilterKind.cacheLineBlocked) blockedBloomAddHalves(bits, probes, first, step);
  else bloomAddHalves(bits, probes, first, step);
}

/**
 * Adds keys [from, to) of `halves` (key n's first at 2n, its step at 2n + 1, as
 * storeKeyHashHalves keeps them) to the filter of `kind`: filterAddHalves per key, with
 * a blocked filter's block count and its check once per range, not once per key (the
 * run writer builds each partition's filter so, issue 12). The same bits.
 */
export function filterAddHalvesRange(kind: FilterKindValue, bits: Uint8Array, probes: number, halves: Uint32Array, from: number, to: number): void {
  if (kind !== FilterKind.cacheLineBlocked) {
    for (let key = from; key < to; key++) bloomAddHalves(bits, probes, halves[2 * key]!, halves[2 * key + 1]!);
    return;
  }
  const blockCount = bits.length / BLOCKED_BLOOM_BLOCK_BYTES;
  assert(Number.isInteger(blockCount) && blockCount > 0, 'a blocked filter is whole blocks');
  for (let key = from; key < to; key++) {
    const base = remainderU32(halves[2 * key]!, blockCount) * BLOCKED_BLOOM_BLOCK_BYTES;
    let mixed = halves[2 * key + 1]!;
    for (let probe = 0; probe < probes; probe++) {
      mixed = Math.imul(mixed, BLOCKED_BLOOM_MULTIPLIER);
      const bit = mixed >>> BLOCKED_BLOOM_BIT_SHIFT;
      bits[base + (bit >>> 3)]! |= 1 << (bit & 7);
    }
  }
}

/** False: the key (hash halves) was never added to the filter of `kind`. */
export function filterMayContainHalves(kind: FilterKindValue, bits: Uint8Array, probes: number, first: number, step: number): boolean {
  return kind === FilterKind.cacheLineBlocked ? blockedBloomMayContainHalves(bits, probes, first, step) : bloomMayContainHalves(bits, probes, first, step);
}

/** False: `key` was never added to the filter of `kind` (the key's hash is reused across runs, as keyHash). */
export function filterMayContainKey(kind: FilterKindValue, bits: Uint8Array, probes: number, hash: Hash64, key: string): boolean {
  keyHash(hash, key);
  return filterMayContainHalves(kind, bits, probes, lastFirst, lastStep);
}

/** False: the key `probe` was made for was never added to the filter of `kind`. */
export function filterMayContainProbe(kind: FilterKindValue, bits: Uint8Array, probes: number, probe: KeyProbe): boolean {
  return filterMayContainHalves(kind, bits, probes, probe.first, probe.step);
}
