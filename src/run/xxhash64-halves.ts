/**
 * xxHash64 (seed 0) of an internal key's bytes, computed in JavaScript on 32-bit
 * halves, for the run writer's filter hashes (src/run/filter-partitions.ts): the
 * same 64 bits as the store's Hash64 (xxhash-wasm's h64Raw), split as the filter
 * splits them, with no BigInt. Through the wasm function every distinct key of a run
 * made a BigInt for its result, another for h64Raw's `& (2^64 - 1)`, and the split
 * wrote it through a BigUint64Array: ~120 B of garbage per key of a flush of 100 B
 * values, the largest part of the writer's (issue 12), and a copy of the key into the
 * wasm memory per call.
 *
 * The algorithm is XXH64 as its specification defines it (primes P1-P5; four lanes
 * over 32-byte stripes for inputs of 32 bytes or more, then 8-byte, 4-byte and 1-byte
 * steps and the final avalanche); every u64 is a (high, low) pair of u32s, products
 * mod 2^64 from 16-bit partial products (exact in doubles). The result lands in
 * `xxhashHalves` ([0] the low u32, [1] the high u32), not in a returned object.
 *
 * `isXxHash64(hash)` decides, once per function, whether a Hash64 is that hash (it
 * answers XXH64's values on inputs of each path); the writer uses this module only
 * then, and the function it was given otherwise (a test's fake hash).
 * test/xxhash64-halves.test.ts compares both on keys of every length up to 1,024.
 */
import type { Hash64 } from '../wal/wal-format.js';

/** The last hash computed: [0] its low u32, [1] its high u32. */
export const xxhashHalves = new Uint32Array(2);

// The five primes, as (high, low) halves (int32s: only their bits count).
const P1_HI = 0x9e3779b1 | 0;
const P1_LO = 0x85ebca87 | 0;
const P2_HI = 0xc2b2ae3d | 0;
const P2_LO = 0x27d4eb4f | 0;
const P3_HI = 0x165667b1 | 0;
const P3_LO = 0x9e3779f9 | 0;
const P4_HI = 0x85ebca77 | 0;
const P4_LO = 0xc2b2ae63 | 0;
const P5_HI = 0x27d4eb2f | 0;
const P5_LO = 0x165667c5 | 0;

/**
 * The high 32 bits of the 64-bit product of u32s `a` and `b` (their bits; as an int32),
 * from 16-bit partial products, exact in doubles. The low 32 bits are Math.imul(a, b),
 * so (ah, al) * (bh, bl) mod 2^64 is (mulHigh32(al, bl) + imul(ah, bl) + imul(al, bh), imul(al, bl)).
 */
function mulHigh32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const middle1 = a1 * b0;
  const middle2 = a0 * b1;
  const carry = (((a0 * b0) >>> 16) + (middle1 & 0xffff) + (middle2 & 0xffff)) >>> 16;
  return (a1 * b1 + (middle1 >>> 16) + (middle2 >>> 16) + carry) | 0;
}

/**
 * The four accumulators of the 32-byte stripes (v1-v4 at 0, 2, 4, 6 as high, low) and a
 * scratch pair at 8 for round(0, x). A typed array, not module variables: a u32 above
 * 2^30 stored in a variable outside the function is a heap number (an allocation per
 * store; a first version so made more garbage than the BigInts). The rest of the hash
 * keeps its u64s in locals, every product written out (a helper per operation writing
 * its result here cost ~3x the CPU).
 */
const lanes = new Int32Array(10);

/** XXH64's round on the pair at `at`: v = rotl(v + input * P2, 31) * P1. */
function laneRound(at: number, inputHi: number, inputLo: number): void {
  const productHi = (mulHigh32(inputLo, P2_LO) + Math.imul(inputHi, P2_LO) + Math.imul(inputLo, P2_HI)) | 0;
  const productLo = Math.imul(inputLo, P2_LO);
  const sumLo = (lanes[at + 1]! + productLo) | 0;
  const sumHi = (lanes[at]! + productHi + (sumLo >>> 0 < productLo >>> 0 ? 1 : 0)) | 0;
  const rotatedHi = (sumHi << 31) | (sumLo >>> 1);
  const rotatedLo = (sumLo << 31) | (sumHi >>> 1);
  lanes[at] = (mulHigh32(rotatedLo, P1_LO) + Math.imul(rotatedHi, P1_LO) + Math.imul(rotatedLo, P1_HI)) | 0;
  lanes[at + 1] = Math.imul(rotatedLo, P1_LO);
}

/** Little-endian u32 (as an int32) of the key's chars from `at` (internal keys: chars below 256). */
function word(key: string, at: number): number {
  return key.charCodeAt(at) | (key.charCodeAt(at + 1) << 8) | (key.charCodeAt(at + 2) << 16) | (key.charCodeAt(at + 3) << 24);
}

/**
 * Hashes the key's bytes (one byte per char: internal keys hold chars below 256) into
 * xxhashHalves. REQUIRES: every char of `key` is below 256.
 */
export function xxhash64OfKey(key: string): void {
  const length = key.length;
  let position = 0;
  // The accumulator (high, low), and scratch for a rotation and a sum.
  let hi: number;
  let lo: number;
  let rotatedHi: number;
  let rotatedLo: number;
  let sum: number;
  if (length >= 32) {
    // v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (mod 2^64).
    sum = (P1_LO + P2_LO) | 0;
    lanes[0] = (P1_HI + P2_HI + (sum >>> 0 < P2_LO >>> 0 ? 1 : 0)) | 0;
    lanes[1] = sum;
    lanes[2] = P2_HI;
    lanes[3] = P2_LO;
    lanes[4] = 0;
    lanes[5] = 0;
    sum = (~P1_LO + 1) | 0;
    lanes[6] = (~P1_HI + (sum === 0 ? 1 : 0)) | 0;
    lanes[7] = sum;
    for (; position + 32 <= length; position += 32) {
      laneRound(0, word(key, position + 4), word(key, position));
      laneRound(2, word(key, position + 12), word(key, position + 8));
      laneRound(4, word(key, position + 20), word(key, position + 16));
      laneRound(6, word(key, position + 28), word(key, position + 24));
    }
    // acc = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18).
    hi = 0;
    lo = 0;
    for (let lane = 0; lane < 4; lane++) {
      const bits = lane === 0 ? 1 : lane === 1 ? 7 : lane === 2 ? 12 : 18;
      const laneHi = lanes[2 * lane]!;
      const laneLo = lanes[2 * lane + 1]!;
      rotatedHi = (laneHi << bits) | (laneLo >>> (32 - bits));
      rotatedLo = (laneLo << bits) | (laneHi >>> (32 - bits));
      sum = (lo + rotatedLo) | 0;
      hi = (hi + rotatedHi + (sum >>> 0 < rotatedLo >>> 0 ? 1 : 0)) | 0;
      lo = sum;
    }
    // mergeRound per lane: acc = (acc ^ round(0, v)) * P1 + P4.
    for (let lane = 0; lane < 4; lane++) {
      lanes[8] = 0;
      lanes[9] = 0;
      laneRound(8, lanes[2 * lane]!, lanes[2 * lane + 1]!);
      const xoredHi = hi ^ lanes[8]!;
      const xoredLo = lo ^ lanes[9]!;
      hi = (mulHigh32(xoredLo, P1_LO) + Math.imul(xoredHi, P1_LO) + Math.imul(xoredLo, P1_HI)) | 0;
      lo = Math.imul(xoredLo, P1_LO);
      sum = (lo + P4_LO) | 0;
      hi = (hi + P4_HI + (sum >>> 0 < P4_LO >>> 0 ? 1 : 0)) | 0;
      lo = sum;
    }
  } else {
    hi = P5_HI;
    lo = P5_LO;
  }
  // acc += length.
  sum = (lo + length) | 0;
  hi = (hi + (sum >>> 0 < length ? 1 : 0)) | 0;
  lo = sum;
  for (; position + 8 <= length; position += 8) {
    // acc ^= round(0, lane); acc = rotl(acc, 27) * P1 + P4.
    const inputLo = word(key, position);
    const inputHi = word(key, position + 4);
    const productHi = (mulHigh32(inputLo, P2_LO) + Math.imul(inputHi, P2_LO) + Math.imul(inputLo, P2_HI)) | 0;
    const productLo = Math.imul(inputLo, P2_LO);
    rotatedHi = (productHi << 31) | (productLo >>> 1);
    rotatedLo = (productLo << 31) | (productHi >>> 1);
    hi ^= (mulHigh32(rotatedLo, P1_LO) + Math.imul(rotatedHi, P1_LO) + Math.imul(rotatedLo, P1_HI)) | 0;
    lo ^= Math.imul(rotatedLo, P1_LO);
    rotatedHi = (hi << 27) | (lo >>> 5);
    rotatedLo = (lo << 27) | (hi >>> 5);
    hi = (mulHigh32(rotatedLo, P1_LO) + Math.imul(rotatedHi, P1_LO) + Math.imul(rotatedLo, P1_HI)) | 0;
    lo = Math.imul(rotatedLo, P1_LO);
    sum = (lo + P4_LO) | 0;
    hi = (hi + P4_HI + (sum >>> 0 < P4_LO >>> 0 ? 1 : 0)) | 0;
    lo = sum;
  }
  if (position + 4 <= length) {
    // acc ^= u32 * P1; acc = rotl(acc, 23) * P2 + P3.
    const input = word(key, position);
    hi ^= (mulHigh32(input, P1_LO) + Math.imul(input, P1_HI)) | 0;
    lo ^= Math.imul(input, P1_LO);
    rotatedHi = (hi << 23) | (lo >>> 9);
    rotatedLo = (lo << 23) | (hi >>> 9);
    hi = (mulHigh32(rotatedLo, P2_LO) + Math.imul(rotatedHi, P2_LO) + Math.imul(rotatedLo, P2_HI)) | 0;
    lo = Math.imul(rotatedLo, P2_LO);
    sum = (lo + P3_LO) | 0;
    hi = (hi + P3_HI + (sum >>> 0 < P3_LO >>> 0 ? 1 : 0)) | 0;
    lo = sum;
    position += 4;
  }
  for (; position < length; position++) {
    // acc ^= byte * P5; acc = rotl(acc, 11) * P1.
    const input = key.charCodeAt(position);
    hi ^= (mulHigh32(input, P5_LO) + Math.imul(input, P5_HI)) | 0;
    lo ^= Math.imul(input, P5_LO);
    rotatedHi = (hi << 11) | (lo >>> 21);
    rotatedLo = (lo << 11) | (hi >>> 21);
    hi = (mulHigh32(rotatedLo, P1_LO) + Math.imul(rotatedHi, P1_LO) + Math.imul(rotatedLo, P1_HI)) | 0;
    lo = Math.imul(rotatedLo, P1_LO);
  }
  // Avalanche: acc ^= acc >> 33; acc *= P2; acc ^= acc >> 29; acc *= P3; acc ^= acc >> 32.
  lo ^= hi >>> 1;
  let productHi = (mulHigh32(lo, P2_LO) + Math.imul(hi, P2_LO) + Math.imul(lo, P2_HI)) | 0;
  let productLo = Math.imul(lo, P2_LO);
  hi = productHi ^ (productHi >>> 29);
  lo = productLo ^ ((productLo >>> 29) | (productHi << 3));
  productHi = (mulHigh32(lo, P3_LO) + Math.imul(hi, P3_LO) + Math.imul(lo, P3_HI)) | 0;
  productLo = Math.imul(lo, P3_LO);
  xxhashHalves[0] = productLo ^ productHi;
  xxhashHalves[1] = productHi;
}

/**
 * Inputs of each path above (under 4 bytes, 4-7, 8-31, 32 and more with a tail of
 * every step) and their XXH64 with seed 0 (the first two are the specification's
 * published values; all are xxhash-wasm's answers).
 */
const CHECK_VECTORS: ReadonlyArray<readonly [string, bigint]> = [
  ['', 0xef46db3751d8e999n],
  ['a', 0xd24ec4f1a98c6e5bn],
  ['abcd', 0xde0327b0d25d92ccn],
  ['abcdefgh', 0x3ad351775b4634b7n],
  ['ladybug-store', 0x4f09974f54cdf555n],
  ['0123456789abcdef0123456789abcdef', 0x642a94958e71e6c5n],
  ['0123456789abcdef0123456789abcdef0123456789abc', 0xfc9bc401c0e4cff3n],
];

/** The last Hash64 asked about and the answer (a writer asks per key: one comparison). */
let checkedHash: Hash64 | undefined;
let checkedAnswer = false;

/**
 * True when `hash` is XXH64 with seed 0 (it answers CHECK_VECTORS), so that
 * xxhash64OfKey gives what it gives: the writer may use xxhash64OfKey for it.
 */
export function isXxHash64(hash: Hash64): boolean {
  if (hash === checkedHash) return checkedAnswer;
  let agrees = true;
  for (const [key, expected] of CHECK_VECTORS) {
    const bytes = new Uint8Array(key.length);
    for (let index = 0; index < key.length; index++) bytes[index] = key.charCodeAt(index);
    if (hash(bytes) !== expected) agrees = false;
  }
  checkedHash = hash;
  checkedAnswer = agrees;
  return agrees;
}
