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

// The five primes, as (high, low) u32 halves.
const P1_HI = 0x9e3779b1;
const P1_LO = 0x85ebca87;
const P2_HI = 0xc2b2ae3d;
const P2_LO = 0x27d4eb4f;
const P3_HI = 0x165667b1;
const P3_LO = 0x9e3779f9;
const P4_HI = 0x85ebca77;
const P4_LO = 0xc2b2ae63;
const P5_HI = 0x27d4eb2f;
const P5_LO = 0x165667c5;

/**
 * The result of the last u64 operation below: [0] high, [1] low, as int32s. A typed
 * array, not two module variables: a u32 above 2^30 stored in a variable outside the
 * function is a heap number (an allocation per store; this cost more than the BigInts).
 */
const result = new Int32Array(2);

/** (ah, al) * (bh, bl) mod 2^64 into result (halves as int32s or u32s: only their bits count). */
function multiply(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const low = a0 * b0;
  const middle1 = a1 * b0;
  const middle2 = a0 * b1;
  const carry = ((low >>> 16) + (middle1 & 0xffff) + (middle2 & 0xffff)) >>> 16;
  const productHi = a1 * b1 + (middle1 >>> 16) + (middle2 >>> 16) + carry;
  result[0] = (productHi + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
  result[1] = Math.imul(al, bl);
}

/** (ah, al) + (bh, bl) mod 2^64 into result. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const low = (al + bl) | 0;
  result[1] = low;
  result[0] = (ah + bh + ((low >>> 0) < (al >>> 0) ? 1 : 0)) | 0;
}

/** (hi, lo) rotated left by `bits` (1 to 31) into result. */
function rotateLeft(hi: number, lo: number, bits: number): void {
  result[0] = (hi << bits) | (lo >>> (32 - bits));
  result[1] = (lo << bits) | (hi >>> (32 - bits));
}

/** XXH64's round: rotl(acc + input * P2, 31) * P1, into result[0]!/result[1]!. */
function round(accHi: number, accLo: number, inputHi: number, inputLo: number): void {
  multiply(inputHi, inputLo, P2_HI, P2_LO);
  add(accHi, accLo, result[0]!, result[1]!);
  rotateLeft(result[0]!, result[1]!, 31);
  multiply(result[0]!, result[1]!, P1_HI, P1_LO);
}

/** Little-endian u32 (as an int32) of the key's chars from `at` (internal keys: chars below 256). */
function word(key: string, at: number): number {
  return (key.charCodeAt(at) | (key.charCodeAt(at + 1) << 8) | (key.charCodeAt(at + 2) << 16) | (key.charCodeAt(at + 3) << 24));
}

/**
 * Hashes the key's bytes (one byte per char: internal keys hold chars below 256) into
 * xxhashHalves. REQUIRES: every char of `key` is below 256.
 */
export function xxhash64OfKey(key: string): void {
  const length = key.length;
  let position = 0;
  let accHi: number;
  let accLo: number;
  if (length >= 32) {
    // v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (mod 2^64).
    add(P1_HI, P1_LO, P2_HI, P2_LO);
    let v1Hi = result[0]!;
    let v1Lo = result[1]!;
    let v2Hi = P2_HI;
    let v2Lo = P2_LO;
    let v3Hi = 0;
    let v3Lo = 0;
    add(~P1_HI >>> 0, ~P1_LO >>> 0, 0, 1);
    let v4Hi = result[0]!;
    let v4Lo = result[1]!;
    for (; position + 32 <= length; position += 32) {
      round(v1Hi, v1Lo, word(key, position + 4), word(key, position));
      v1Hi = result[0]!;
      v1Lo = result[1]!;
      round(v2Hi, v2Lo, word(key, position + 12), word(key, position + 8));
      v2Hi = result[0]!;
      v2Lo = result[1]!;
      round(v3Hi, v3Lo, word(key, position + 20), word(key, position + 16));
      v3Hi = result[0]!;
      v3Lo = result[1]!;
      round(v4Hi, v4Lo, word(key, position + 28), word(key, position + 24));
      v4Hi = result[0]!;
      v4Lo = result[1]!;
    }
    rotateLeft(v1Hi, v1Lo, 1);
    accHi = result[0]!;
    accLo = result[1]!;
    rotateLeft(v2Hi, v2Lo, 7);
    add(accHi, accLo, result[0]!, result[1]!);
    accHi = result[0]!;
    accLo = result[1]!;
    rotateLeft(v3Hi, v3Lo, 12);
    add(accHi, accLo, result[0]!, result[1]!);
    accHi = result[0]!;
    accLo = result[1]!;
    rotateLeft(v4Hi, v4Lo, 18);
    add(accHi, accLo, result[0]!, result[1]!);
    accHi = result[0]!;
    accLo = result[1]!;
    // mergeRound for each lane: acc = (acc ^ round(0, v)) * P1 + P4.
    for (let lane = 0; lane < 4; lane++) {
      const vHi = lane === 0 ? v1Hi : lane === 1 ? v2Hi : lane === 2 ? v3Hi : v4Hi;
      const vLo = lane === 0 ? v1Lo : lane === 1 ? v2Lo : lane === 2 ? v3Lo : v4Lo;
      round(0, 0, vHi, vLo);
      multiply((accHi ^ result[0]!) >>> 0, (accLo ^ result[1]!) >>> 0, P1_HI, P1_LO);
      add(result[0]!, result[1]!, P4_HI, P4_LO);
      accHi = result[0]!;
      accLo = result[1]!;
    }
  } else {
    accHi = P5_HI;
    accLo = P5_LO;
  }
  add(accHi, accLo, 0, length);
  accHi = result[0]!;
  accLo = result[1]!;
  for (; position + 8 <= length; position += 8) {
    round(0, 0, word(key, position + 4), word(key, position));
    rotateLeft((accHi ^ result[0]!) >>> 0, (accLo ^ result[1]!) >>> 0, 27);
    multiply(result[0]!, result[1]!, P1_HI, P1_LO);
    add(result[0]!, result[1]!, P4_HI, P4_LO);
    accHi = result[0]!;
    accLo = result[1]!;
  }
  if (position + 4 <= length) {
    multiply(0, word(key, position), P1_HI, P1_LO);
    rotateLeft((accHi ^ result[0]!) >>> 0, (accLo ^ result[1]!) >>> 0, 23);
    multiply(result[0]!, result[1]!, P2_HI, P2_LO);
    add(result[0]!, result[1]!, P3_HI, P3_LO);
    accHi = result[0]!;
    accLo = result[1]!;
    position += 4;
  }
  for (; position < length; position++) {
    multiply(0, key.charCodeAt(position), P5_HI, P5_LO);
    rotateLeft((accHi ^ result[0]!) >>> 0, (accLo ^ result[1]!) >>> 0, 11);
    multiply(result[0]!, result[1]!, P1_HI, P1_LO);
    accHi = result[0]!;
    accLo = result[1]!;
  }
  // Avalanche: acc ^= acc >> 33; acc *= P2; acc ^= acc >> 29; acc *= P3; acc ^= acc >> 32.
  multiply(accHi, (accLo ^ (accHi >>> 1)) >>> 0, P2_HI, P2_LO);
  multiply((result[0]! ^ (result[0]! >>> 29)) >>> 0, (result[1]! ^ ((result[1]! >>> 29) | (result[0]! << 3))) >>> 0, P3_HI, P3_LO);
  xxhashHalves[0] = (result[1]! ^ result[0]!) >>> 0;
  xxhashHalves[1] = result[0]!;
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
