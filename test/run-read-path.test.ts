/**
 * The point-read path of a run (RunReader.versionsSyncWhenCached, the filter's
 * one-hash-per-key memo): it answers exactly what versions() answers, synchronously
 * once the blocks are cached, and the hash memo never gives one key another's hash.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { bloomAdd, bloomBitCount, bloomMayContain, bloomMayContainKey, keyHash, RUN_BLOOM_PROBES } from '../src/run/bloom-filter.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { plain, simpleEntries, writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('keyHash memo', () => {
  it('hashes each key to the hash of its own bytes, whatever key came before', () => {
    const keys = ['alpha', 'beta', 'alpha', 'alpha', 'gamma', 'beta'];
    for (const key of keys) expect(keyHash(hash, key)).toBe(hash(Buffer.from(key, 'latin1')));
  });

  it('keys the memo by the hash function too', () => {
    const constant: Hash64 = () => 42n;
    expect(keyHash(hash, 'same')).toBe(hash(Buffer.from('same', 'latin1')));
    expect(keyHash(constant, 'same')).toBe(42n);
    expect(keyHash(hash, 'same')).toBe(hash(Buffer.from('same', 'latin1')));
  });

  it('bloomMayContainKey agrees with bloomMayContain on added and absent keys', () => {
    const bits = new Uint8Array(bloomBitCount(100) / 8);
    for (let index = 0; index < 100; index += 2) bloomAdd(bits, RUN_BLOOM_PROBES, keyHash(hash, `k${index}`));
    for (let index = 0; index < 200; index++) {
      const key = `k${index}`;
      const expected = bloomMayContain(bits, RUN_BLOOM_PROBES, hash(Buffer.from(key, 'latin1')));
      expect(bloomMayContainKey(bits, RUN_BLOOM_PROBES, hash, key)).toBe(expected);
      if (index < 100 && index % 2 === 0) expect(expected).toBe(true);
    }
  });
});

describe('RunReader.versionsSyncWhenCached', () => {
  it('answers like versions(), and without a promise once the blocks are cached', async () => {
    const entries = simpleEntries(400, 3, 60);
    const { reader } = await writeAndOpen(hash, entries);
    const keys = [...new Set(entries.map((entry) => entry.key)), 'key-000000x', 'a', 'zzz'];
    for (const key of keys) {
      const first = reader.versionsSyncWhenCached(key);
      const expected = entries.filter((entry) => entry.key === key).map(plain);
      expect((await first).map(plain)).toEqual(expected);
      const second = reader.versionsSyncWhenCached(key);
      expect(Array.isArray(second)).toBe(true); // every block it needs is cached now
      expect((second as Awaited<typeof second>).map(plain)).toEqual(expected);
      expect((await reader.versions(key)).map(plain)).toEqual(expected);
    }
    await reader.close();
  });
});

describe('DecodedBlock lookups on key bytes', () => {
  it('lowerBound, upperBound and keys agree with string order, bytes above 0x7f included', async () => {
    const keys = ['a', 'a\u0000', 'ab', 'b', 'b\u007f', 'b\u0080', 'b\u00ff', 'c'];
    const entries = keys.flatMap((key, index) => [
      { key, version: index * 10 + 2, value: Buffer.from([index]) },
      { key, version: index * 10 + 1, value: undefined },
    ]);
    const { reader } = await writeAndOpen(hash, entries);
    const block = await reader.readBlock(0);
    expect(block.keys).toEqual(entries.map((entry) => entry.key));
    const probes = [...keys, '', '\u0000', 'a\u0001', 'b\u0081', 'bb', 'd', '\u00ff'];
    for (const probe of probes) {
      const sorted = entries.map((entry) => entry.key);
      expect(block.lowerBound(probe)).toBe(sorted.filter((key) => key < probe).length);
      expect(block.upperBound(probe)).toBe(sorted.filter((key) => key <= probe).length);
      expect((await reader.versions(probe)).map(plain)).toEqual(entries.filter((entry) => entry.key === probe).map(plain));
    }
    await reader.close();
  });
});
