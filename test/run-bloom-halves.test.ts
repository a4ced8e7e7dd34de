/**
 * The run writer keeps each distinct key's filter hash as two u32 halves and sets
 * the filter bits from them (storeKeyHashHalves, bloomAddHalves), instead of a
 * BigInt per key (issue 7, load RSS). The filter on disk must not change: the same
 * bits as bloomAdd of the key's 64-bit hash, for every key, including a key hashed
 * twice in a row (keyHash's memo) and keys of every length up to KEY_BYTES_MAX.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { KEY_BYTES_MAX } from '../src/limits.js';
import { bloomAdd, bloomAddHalves, bloomBitCount, bloomMayContainKey, keyHash, RUN_BLOOM_PROBES, storeKeyHashHalves } from '../src/run/bloom-filter.js';

describe('bloom filter from stored hash halves', () => {
  it('sets exactly the bits bloomAdd sets from the 64-bit hash', async () => {
    const hash = await loadHash64();
    const keys = ['a', 'a', 'b', '\u00ff\u0000\u0080', 'x'.repeat(KEY_BYTES_MAX), 'x'.repeat(KEY_BYTES_MAX - 1)];
    for (let index = 0; index < 2000; index++) keys.push(`key-${index * 7919}`);
    const bitCount = bloomBitCount(keys.length);
    const fromBigInt = new Uint8Array(bitCount / 8);
    const fromHalves = new Uint8Array(bitCount / 8);
    const halves = new Uint32Array(2 * keys.length);
    keys.forEach((key, slot) => storeKeyHashHalves(hash, key, halves, slot));
    for (const key of keys) bloomAdd(fromBigInt, RUN_BLOOM_PROBES, keyHash(hash, key));
    for (let slot = 0; slot < keys.length; slot++) bloomAddHalves(fromHalves, RUN_BLOOM_PROBES, halves[2 * slot]!, halves[2 * slot + 1]!);
    expect(Buffer.from(fromHalves).equals(Buffer.from(fromBigInt))).toBe(true);
    expect(fromHalves.some((byte) => byte !== 0)).toBe(true);
    for (const key of keys) expect(bloomMayContainKey(fromHalves, RUN_BLOOM_PROBES, hash, key)).toBe(true);
  });
});
