/**
 * Review of the block cache's compressed tier (c85e0b6, 7ff30a2, 5d3b1dc) and the
 * index partition's prefix table (b1590cf), trying to make them give wrong data or
 * lose count of bytes:
 * - a random walk over BlockCache (compressed offers, decoded sets, partitions,
 *   retireRun, dropRun, resizes, runs registering) against a model of what was offered:
 *   a held block always reads back the bytes first offered under its key (a second
 *   offer never replaces it: seed race 3), a dropped run's blocks are gone, the bytes
 *   recount (debug #check) and stay within the bound;
 * - a packed run read through the tier: verify and scrub read the FILE (damage under
 *   held blocks is found and repaired), a dropped and reopened run reads the file;
 * - the prefix search against the byte search for keys with bytes 0x7f..0xff, keys
 *   shorter than four bytes past the shared prefix, and one-block partitions.
 */
import { Buffer } from 'node:buffer';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { COMPRESSED_SEGMENT_BYTES } from '../src/run/compressed-block-ring.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { CheckedBlock } from '../src/run/run-file.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { IndexBuilder, RunIndex, searchPackedKeys } from '../src/run/run-index.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { setDebugForTesting } from '../src/util/debug.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { fakeBlock, freshFileSystem, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** A small deterministic generator (mulberry32). */
function generator(seed: number): (limit: number) => number {
  let state = seed >>> 0;
  return (limit: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return ((mixed ^ (mixed >>> 14)) >>> 0) % limit;
  };
}

function checkedBlock(payloadBytes: number, seed: number, entryCount: number): CheckedBlock {
  const bytes = Buffer.alloc(RUN_BLOCK_HEADER_BYTES + payloadBytes, 0xee);
  for (let index = 0; index < payloadBytes; index++) bytes[RUN_BLOCK_HEADER_BYTES + index] = (seed * 131 + index * 7) & 0xff;
  return { bytes, payloadBytes, entryCount };
}

function payloadOf(block: CheckedBlock): Buffer {
  return Buffer.from(block.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + block.payloadBytes));
}

describe('BlockCache with its compressed tier: a random walk against a model', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}`, () => {
      const random = generator(seed);
      const cache = new BlockCache(6 * COMPRESSED_SEGMENT_BYTES);
      /** What was first offered under each (run, offset) still possibly held: payload seed, length, entry count. */
      const offered = new Map<string, { seed: number; length: number; count: number }>();
      const dropped = new Set<number>();
      let nextRun = 1;
      const live: number[] = [];
      const newRun = () => {
        const runId = nextRun++;
        live.push(runId);
        if (random(2) === 0) cache.compressed.registerRun(runId, random(4 * COMPRESSED_SEGMENT_BYTES));
        return runId;
      };
      for (let run = 0; run < 3; run++) newRun();
      for (let step = 0; step < 2500; step++) {
        const action = random(100);
        const runId = live[random(live.length)]!;
        const offset = random(400) * 32;
        if (action < 55) {
          const length = 1 + random(action < 2 ? COMPRESSED_SEGMENT_BYTES : 3000);
          const blockSeed = random(1 << 20);
          const count = 1 + random(200);
          const key = `${runId}:${offset}`;
          const wasHeld = cache.compressed.lookup(runId, offset) !== undefined;
          cache.compressed.hold(runId, offset, checkedBlock(length, blockSeed, count));
          const nowHeld = cache.compressed.lookup(runId, offset) !== undefined;
          if (!wasHeld && nowHeld) offered.set(key, { seed: blockSeed, length, count });
        } else if (action < 80) {
          cache.set(runId, offset + 16, fakeBlock(50 + random(3000)));
        } else if (action < 88) {
          cache.setPartition(runId, 1_000_000 + random(50) * 4096, { partition: step }, 200 + random(8000));
        } else if (action < 91) {
          cache.retireRun(runId);
        } else if (action < 94 && live.length > 1) {
          cache.dropRun(runId);
          live.splice(live.indexOf(runId), 1);
          dropped.add(runId);
          newRun();
        } else if (action < 96) {
          cache.maxBytes = (2 + random(8)) * COMPRESSED_SEGMENT_BYTES + random(5000);
        } else if (action < 98) {
          newRun();
        }
        expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
        expect(cache.bytes).toBe(cache.compressed.bytes + cache.dataBytes + cache.partitionBytes);
        expect(cache.dataBytes).toBeGreaterThanOrEqual(0);
        if (step % 251 === 0) {
          cache.retireRun(1_000_000 + step); // no such run: runs the debug recount
          for (const [key, what] of offered) {
            const [run, at] = key.split(':').map(Number) as [number, number];
            const held = cache.compressed.lookup(run, at);
            if (held === undefined) {
              offered.delete(key);
              continue;
            }
            expect(dropped.has(run), `a dropped run's block ${key} is held`).toBe(false);
            expect(held.entryCount).toBe(what.count);
            expect(held.payloadBytes).toBe(what.length);
            expect(payloadOf(held).equals(payloadOf(checkedBlock(what.length, what.seed, what.count))), key).toBe(true);
          }
                  }
      }
    });
  }
});

function keyOf(index: number): string {
  return `key-${String(index).padStart(6, '0')}`;
}

describe('a packed run whose blocks the tier holds', () => {
  it('verify and scrub read the file: damage under held blocks is found and repaired, and reads stay exact', async () => {
    const sorted: RunEntry[] = Array.from({ length: 4000 }, (_, index) => ({ key: keyOf(index), version: index + 1, value: Buffer.from(`${index}:${'v'.repeat(40 + (index % 50))}`) }));
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 3, hash, entries: sorted, compression: 'deflate' });
    const cache = new BlockCache(16 * COMPRESSED_SEGMENT_BYTES);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
    for (let index = 0; index < sorted.length; index += 3) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    expect(cache.compressed.blocks).toBeGreaterThan(20);
    expect((await reader.verify()).problems).toEqual([]);
    // Damage one data page under held blocks.
    const path = `${RUNS_DIRECTORY}/${descriptor.fileName}`;
    fileSystem.flipBit(path, 2 * RUN_PAGE_BYTES + 100, 2);
    const verified = await reader.verify();
    expect(verified.problems.length).toBeGreaterThan(0);
    // Reads from the tier stay exact; scrub with repair rebuilds the page from the file's parity.
    for (let index = 0; index < sorted.length; index += 3) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    const steps = [];
    for await (const step of reader.scrub(true)) steps.push(step);
    expect(JSON.stringify(steps)).toMatch(/repaired|rebuilt/);
    cache.dropRun(1);
    expect(cache.compressed.blocks).toBe(0);
    for (let index = 0; index < sorted.length; index++) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    await reader.close();
  });
});

/** A RunIndex over `lastKeys` (sorted), one page per block. */
function indexOf(lastKeys: readonly string[]): RunIndex {
  const builder = new IndexBuilder();
  lastKeys.forEach((key, block) => builder.add(key, block * RUN_PAGE_BYTES, RUN_PAGE_BYTES, 0n));
  const { block, payloadBytes } = builder.block();
  return RunIndex.decode('test.run', 0, block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes), lastKeys.length, 0, lastKeys.length * RUN_PAGE_BYTES);
}

function byteSearch(lastKeys: readonly string[], key: string, strictlyAfter: boolean): number {
  const bytes = Buffer.from(lastKeys.join(''), 'latin1');
  const starts = new Uint32Array(lastKeys.length + 1);
  lastKeys.forEach((lastKey, block) => (starts[block + 1] = starts[block]! + lastKey.length));
  return searchPackedKeys(key, bytes, starts, lastKeys.length, strictlyAfter);
}

describe('RunIndex prefix search: high bytes, short tails, one block', () => {
  it('agrees with the byte search', () => {
    setDebugForTesting(false);
    try {
      const random = generator(99);
      const alphabet = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff, 0x61];
      const randomKey = (prefix: string, maxTail: number) => {
        let key = prefix;
        const length = (prefix.length === 0 ? 1 : 0) + random(maxTail + 1);
        for (let index = 0; index < length; index++) key += String.fromCharCode(alphabet[random(alphabet.length)]!);
        return key;
      };
      for (let trial = 0; trial < 300; trial++) {
        const prefix = ['', '\u0080', '\u00ff\u00ff', 'p/\u00c3\u00a9/', '\u0000\u0000\u0000\u0000\u0000'][random(5)]!;
        const count = 1 + random(trial % 3 === 0 ? 2 : 60);
        const lastKeys = Array.from({ length: count }, () => randomKey(prefix, 1 + random(6))).sort();
        const index = indexOf(lastKeys);
        const probes = new Set<string>(lastKeys);
        for (let probe = 0; probe < 80; probe++) probes.add(randomKey(random(4) === 0 ? prefix.slice(0, random(prefix.length + 1)) : prefix, 7));
        for (const lastKey of lastKeys) for (let cut = 1; cut <= lastKey.length; cut++) probes.add(lastKey.slice(0, cut));
        for (const key of probes) {
          if (key.length === 0) continue;
          expect(index.firstBlockAtOrAfter(key), JSON.stringify([lastKeys, key])).toBe(byteSearch(lastKeys, key, false));
          expect(index.firstBlockAfter(key), JSON.stringify([lastKeys, key])).toBe(byteSearch(lastKeys, key, true));
        }
      }
    } finally {
      setDebugForTesting(true);
    }
  });
});

describe('a store whose cold runs the tier holds', () => {
  afterEach(() => removeTemporaryDirectories());

  it('reads exact across compactions that retire and drop held runs, and its stats count the tier once', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 4 * 1024 * 1024 });
    const expected = new Map<string, unknown>();
    const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
    const putRound = async (round: number) => {
      for (let index = 0; index < 1500; index++) {
        const value = { round, text: 'tier '.repeat(5 + (index % 9)) };
        await store.put(key(index), value);
        expected.set(key(index), value);
      }
      await store.checkpoint();
    };
    const readAll = async () => {
      for (let index = 0; index < 1500; index++) expect(await store.get(key(index))).toEqual(expected.get(key(index)));
    };
    for (let round = 0; round < 3; round++) await putRound(round);
    await store.compact();
    await putRound(3);
    await store.compact();
    for (let pass = 0; pass < 3; pass++) await readAll();
    const held = store.stats().storage;
    expect(held.tiers.coldRuns).toBeGreaterThan(0);
    expect(held.blockCacheCompressedBytes).toBeGreaterThan(0);
    expect(held.blockCacheCompressedBytes).toBeLessThanOrEqual(held.blockCacheBytes);
    expect(held.blockCacheBytes).toBeLessThanOrEqual(held.blockCacheMaxBytes);
    expect(held.cacheBytes).toBe(held.blockCacheBytes + held.pointCacheBytes);
    // New rounds compacted into the cold run: the held runs are retired and dropped, their ids never come back.
    for (let round = 4; round < 7; round++) {
      await putRound(round);
      await store.compact();
      await readAll();
      await readAll();
      const stats = store.stats().storage;
      expect(stats.blockCacheBytes).toBeLessThanOrEqual(stats.blockCacheMaxBytes);
      expect(stats.blockCacheCompressedBytes).toBeLessThanOrEqual(stats.blockCacheBytes);
    }
    // Scrub reads the files, not the tier: damage under held blocks is found and repaired.
    expect((await store.scrub()).repaired).toEqual([]);
    await store.close();
    const runs = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).map((name) => join(directory, 'runs', name));
    const cold = runs.filter((path) => {
      const bytes = readFileSync(path);
      return bytes.readUInt32LE(bytes.length - RUN_PAGE_BYTES + 52) !== 0;
    });
    expect(cold.length).toBeGreaterThan(0);
    const reopened = await openStore(directory, { memoryBudgetBytes: 4 * 1024 * 1024 });
    for (let index = 0; index < 1500; index++) expect(await reopened.get(key(index))).toEqual(expected.get(key(index)));
    expect(reopened.stats().storage.blockCacheCompressedBytes).toBeGreaterThan(0);
    const file = cold[0]!;
    const bytes = readFileSync(file);
    bytes[RUN_PAGE_BYTES + 200] = bytes[RUN_PAGE_BYTES + 200]! ^ 0x10;
    writeFileSync(file, bytes);
    for (let index = 0; index < 1500; index++) expect(await reopened.get(key(index))).toEqual(expected.get(key(index)));
    const report = await reopened.scrub();
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired.length).toBeGreaterThan(0);
    expect((await reopened.scrub()).repaired).toEqual([]);
    await reopened.close();
  });
});

describe('a format-3 cold run (brotli, page-padded blocks) of an earlier release read through the tier', () => {
  afterEach(() => removeTemporaryDirectories());

  it('misses of the decoded blocks are answered from the tier, exact', async () => {
    const directory = temporaryDirectory();
    cpSync(join(import.meta.dirname, 'fixtures', 'store-cold-format3'), directory, { recursive: true });
    const key = (index: number) => `user-${String(index).padStart(7, '0')}`;
    const expected = (index: number): unknown => {
      if (index % 13 === 0) return undefined;
      if (index % 10 === 0) return { overwritten: index };
      return { id: index, name: `user number ${index}`, email: `user${index}@example.com`, tags: ['alpha', 'beta', 'gamma'], score: index % 100 };
    };
    const store = await openStore(directory, { memoryBudgetBytes: 1024 * 1024 });
    for (let pass = 0; pass < 3; pass++) {
      // A stride that walks the blocks out of order, so the decoded blocks miss.
      for (let step = 0; step < 3200; step++) {
        const index = (step * 997) % 3200;
        expect(await store.get(key(index))).toEqual(expected(index));
      }
    }
    const stats = store.stats().storage;
    expect(stats.blockCacheCompressedHits).toBeGreaterThan(0);
    expect(stats.blockCacheCompressedBytes).toBeLessThanOrEqual(stats.blockCacheBytes);
    expect(stats.blockCacheBytes).toBeLessThanOrEqual(stats.blockCacheMaxBytes);
    await store.close();
  });
});
