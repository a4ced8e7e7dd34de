/**
 * The run writer's JavaScript XXH64 of a key (src/run/xxhash64-halves.ts) gives the
 * store's hash (xxhash-wasm's h64Raw) bit for bit: on keys of every length from 0 to
 * 1,100 chars (every path: under 4 bytes, 4-7, 8-31, 32-byte stripes with each tail),
 * with random bytes 0-255 and with all-0xff and all-zero bytes (the carries), and the
 * filter halves FilterPartitions stores equal storeKeyHashHalves'. isXxHash64 accepts
 * the store's hash (and a wrapper of it) and refuses another function.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { storeKeyHashHalves } from '../src/run/bloom-filter.js';
import { isXxHash64, xxhash64OfKey, xxhashHalves } from '../src/run/xxhash64-halves.js';

function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  };
}

const bytesOf = (key: string): Uint8Array => Uint8Array.from(key, (char) => char.charCodeAt(0));

describe('xxhash64OfKey', () => {
  it('equals the store hash on keys of every length and byte', async () => {
    const hash = await loadHash64();
    const random = generator(12);
    let checked = 0;
    for (let length = 0; length <= 1_100; length++) {
      const keys = [String.fromCharCode(0xff).repeat(length), '\u0000'.repeat(length)];
      for (let copy = 0; copy < 6; copy++) keys.push(Array.from({ length }, () => String.fromCharCode(random() & 0xff)).join(''));
      for (const key of keys) {
        xxhash64OfKey(key);
        const computed = (BigInt(xxhashHalves[1]!) << 32n) | BigInt(xxhashHalves[0]!);
        if (computed !== hash(bytesOf(key))) expect.fail(`xxhash64OfKey differs at length ${length}: ${JSON.stringify(key)}`);
        checked++;
      }
    }
    for (let count = 0; count < 50_000; count++) {
      const key = Array.from({ length: 1 + (random() % 40) }, () => String.fromCharCode(random() & 0xff)).join('');
      xxhash64OfKey(key);
      const computed = (BigInt(xxhashHalves[1]!) << 32n) | BigInt(xxhashHalves[0]!);
      if (computed !== hash(bytesOf(key))) expect.fail(`xxhash64OfKey differs: ${JSON.stringify(key)}`);
      checked++;
    }
    expect(checked).toBe(1_101 * 8 + 50_000);
  });

  it('gives the halves storeKeyHashHalves stores', async () => {
    const hash = await loadHash64();
    const random = generator(5);
    const halves = new Uint32Array(2);
    for (let count = 0; count < 2_000; count++) {
      const key = Array.from({ length: 1 + (random() % 300) }, () => String.fromCharCode(random() & 0xff)).join('');
      storeKeyHashHalves(hash, key, halves, 0);
      xxhash64OfKey(key);
      expect([xxhashHalves[0], (xxhashHalves[1]! | 1) >>> 0]).toEqual([halves[0], halves[1]]);
    }
  });

  it('isXxHash64 knows the store hash from another function', async () => {
    const hash = await loadHash64();
    expect(isXxHash64(hash)).toBe(true);
    expect(isXxHash64((bytes) => hash(bytes))).toBe(true);
    expect(isXxHash64((bytes) => hash(bytes) ^ 1n)).toBe(false);
    expect(isXxHash64(() => 42n)).toBe(false);
    expect(isXxHash64(hash)).toBe(true);
  });
});
