/**
 * Review of 1ea5db4 (block-cache admission once full): a point read's first miss of
 * a plain block reads it into the reused read scratch and copies out only the key's
 * entries. No entry handed out may alias the scratch: a later read (synchronous, on
 * the promise path, or a repair) must never change a value already returned, for keys
 * whose versions span several blocks, in a run reader and through a store (get,
 * as-of get, history, scan, a snapshot), with values held across many later reads.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { modelVersions, plain, runOrder, RUNS_DIRECTORY, simpleEntries, writeAndOpen, type PlainEntry } from './run-helpers.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});


describe('admission: values read through the scratch never alias it', () => {
  for (const synchronous of [true, false]) {
    it(`keys spanning several blocks, results held across every later read (${synchronous ? 'readSync' : 'promise path, reads in flight together'})`, async () => {
      // 40 versions of 300 B per key: each key spans three or more 4 KiB blocks.
      const entries = simpleEntries(60, 40, 300);
      const sorted = runOrder(entries);
      const written = await writeAndOpen(hash, entries);
      await written.reader.close();
      const fileSystem = synchronous ? written.fileSystem : new NoReadSyncFileSystem(written.fileSystem);
      // Room for about two blocks: the cache is full after the first reads.
      const cache = new BlockCache(2 * 4096 * 4);
      const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, written.descriptor, hash, cache);
      const admits = cache.admits.bind(cache);
      let refused = 0;
      cache.admits = (runId, offset, lengthBytes) => (admits(runId, offset, lengthBytes) ? true : (refused++, false));
      const keys = [...new Set(entries.map((entry) => entry.key))];
      const held: Array<{ key: string; found: RunEntry[]; copy: PlainEntry[] }> = [];
      for (let round = 0; round < 2; round++) {
        // In flight together on the promise path: several scratch buffers at once.
        const results = await Promise.all(keys.map(async (key) => ({ key, found: await reader.versionsSyncWhenCached(key) })));
        for (const { key, found } of results) {
          expect(found.map(plain), key).toEqual(modelVersions(sorted, key));
          held.push({ key, found, copy: found.map(plain) });
        }
      }
      expect(refused).toBeGreaterThan(keys.length); // admission left many first misses out of the cache
      for (const { key, found, copy } of held) expect(found.map(plain), key).toEqual(copy);
      await reader.close();
    });
  }

  it('a block repaired from parity on its first miss, then the scratch reused: returned values stay exact', async () => {
    const entries = simpleEntries(60, 40, 300);
    const sorted = runOrder(entries);
    const written = await writeAndOpen(hash, entries);
    await written.reader.close();
    written.fileSystem.flipBit(`${RUNS_DIRECTORY}/${written.descriptor.fileName}`, 200, 1);
    const reader = await RunReader.open(written.fileSystem, RUNS_DIRECTORY, written.descriptor, hash, new BlockCache(0));
    const first = await reader.versionsSyncWhenCached('key-000000');
    const copy = first.map(plain);
    expect(copy).toEqual(modelVersions(sorted, 'key-000000'));
    for (const key of ['key-000001', 'key-000030', 'key-000059', 'key-000000']) expect((await reader.versionsSyncWhenCached(key)).map(plain)).toEqual(modelVersions(sorted, key));
    expect(first.map(plain)).toEqual(copy);
    expect(reader.repairCounters.repairedBlocks).toBe(1);
    await reader.close();
  });
});

describe('admission through a store', () => {
  it('get, as-of get, history, scan and a snapshot over a store far larger than its block cache: every held value stays exact', async () => {
    const fileSystem = new FaultFileSystem(1);
    const options = { fileSystem, memoryBudgetBytes: 256 * 1024 };
    const keyCount = 600;
    const versions = 4;
    const valueOf = (key: number, version: number) => Buffer.alloc(700, (key * 13 + version) % 256);
    const keyName = (key: number) => `key-${String(key).padStart(5, '0')}`;
    const versionAt: number[][] = Array.from({ length: keyCount }, () => []);
    let store = await openStore('/store', options);
    for (let version = 0; version < versions; version++) {
      for (let start = 0; start < keyCount; start += 100) {
        const result = await store.batch(Array.from({ length: 100 }, (_, offset) => ({ type: 'put' as const, key: keyName(start + offset), value: valueOf(start + offset, version) })));
        for (let offset = 0; offset < 100; offset++) versionAt[start + offset]!.push(result.version);
      }
    }
    await store.close();
    store = await openStore('/store', options);
    const held: Array<{ what: string; value: unknown; expected: Buffer }> = [];
    const snapshot = await store.snapshot();
    // Spread over the key space, twice: first misses (scratch) and second misses (cached).
    for (let pass = 0; pass < 2; pass++) {
      for (let step = 0; step < keyCount; step += 7) {
        const key = (step * 37 + pass) % keyCount;
        held.push({ what: `get ${key}`, value: await store.get(keyName(key)), expected: valueOf(key, versions - 1) });
        held.push({ what: `asOf ${key}`, value: await store.get(keyName(key), { asOf: versionAt[key]![1]! }), expected: valueOf(key, 1) });
        held.push({ what: `snapshot ${key}`, value: await snapshot.get(keyName(key)), expected: valueOf(key, versions - 1) });
        const history = await store.history(keyName(key));
        expect(history.map((entry) => entry.version)).toEqual([...versionAt[key]!].reverse());
        history.forEach((entry, index) => held.push({ what: `history ${key}@${index}`, value: entry.value, expected: valueOf(key, versions - 1 - index) }));
      }
    }
    let scanned = 0;
    for await (const [key, value] of store.scan({ gte: keyName(100), lt: keyName(160) })) {
      const index = Number(String(key).slice(4));
      held.push({ what: `scan ${index}`, value, expected: valueOf(index, versions - 1) });
      scanned++;
    }
    expect(scanned).toBe(60);
    for (const { what, value, expected } of held) expect(Buffer.isBuffer(value) && value.equals(expected), what).toBe(true);
    await snapshot.release();
    await store.close();
  });
});
