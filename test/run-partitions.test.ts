/**
 * Run format 3's partitioned index and filter (docs/FORMAT.md, "Top-level index
 * block"; src/run/run-top-index.ts): round trips of runs with many partitions (keys
 * at every partition boundary, one key whose versions span many blocks and would
 * span partitions, values larger than a page), the filter partitions' false-positive
 * rate, a damaged index or filter partition page rebuilt from parity, and without
 * parity a CorruptionError naming the file and the partition's offset; verify on a
 * damaged partition reports it and writes nothing; opening reads the footer and the
 * top-level index only.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { BlockKind, RUN_FORMAT_VERSION, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader, type RunReaderOptions } from '../src/run/run-reader.js';
import type { TopLevelIndex } from '../src/run/run-top-index.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, modelAsOf, modelScan, modelVersions, plain, RUNS_DIRECTORY, runOrder, writeAndOpen } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Long keys (fat index entries: few blocks per partition), one key with 3000 versions, some 20 KiB values. */
function manyPartitionEntries(): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let key = 0; key < 3000; key++) {
    const name = `${String(key).padStart(5, '0')}-${'p'.repeat(180)}`;
    const versionCount = key === 700 ? 3000 : key % 50 === 0 ? 5 : 1;
    for (let version = versionCount; version >= 1; version--) {
      const valueBytes = key % 333 === 0 && version === 1 ? 20_000 : 24;
      const value = Buffer.alloc(valueBytes, (key * 13 + version) % 251);
      entries.push({ key: name, version: key * 1000 + version, value: (key + version) % 11 === 0 ? undefined : value });
    }
  }
  return runOrder(entries);
}

function top(reader: RunReader): TopLevelIndex {
  const found = reader.topLevelIndex;
  expect(found).toBeDefined();
  return found!;
}

async function reopen(fileSystem: FaultFileSystem, descriptor: RunDescriptor, options: RunReaderOptions = {}): Promise<RunReader> {
  return RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), options);
}

function physicalOffset(reader: RunReader, logicalOffset: number): number {
  return new StripeLayout(reader.footer.stripeDataPages, RUN_PAGE_BYTES).physicalOffset(logicalOffset);
}

async function expectExact(reader: RunReader, sorted: RunEntry[]): Promise<void> {
  for (const key of new Set(sorted.map((entry) => entry.key))) expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
}

describe('partitioned index and filter', () => {
  it('a run of many partitions reads back exactly: point, as-of, cursors with bounds at every partition boundary, verify', async () => {
    const sorted = manyPartitionEntries();
    const { reader } = await writeAndOpen(hash, sorted);
    expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION);
    const partitions = top(reader);
    expect(partitions.count).toBeGreaterThanOrEqual(8);
    // The key with 3000 versions spans many blocks and lies in one partition (longer than a page).
    const longKey = `00700-${'p'.repeat(180)}`;
    const longPartition = reader.partitionAtOrAfter(longKey);
    expect(partitions.indexLength(longPartition)).toBeGreaterThan(RUN_PAGE_BYTES);
    expect(partitions.blockCount(longPartition)).toBeGreaterThan(20);
    await expectExact(reader, sorted);
    for (const version of [700_001, 701_500, 703_000, 699_999])  {
      const found = await reader.entryAsOf(longKey, version);
      expect(found === undefined ? undefined : plain(found)).toEqual(modelAsOf(sorted, longKey, version));
    }
    expect(await reader.versions(`00700-${'p'.repeat(179)}`)).toEqual([]);
    expect(await reader.versions('zzz')).toEqual([]);
    // Bounds at each partition's last key and just around it.
    const keys = [...new Set(sorted.map((entry) => entry.key))];
    for (let partition = 0; partition < partitions.count; partition++) {
      const last = partitions.lastKey(partition);
      // The next partition's first key (the key after `last`), so bounds fall on both sides of the boundary.
      const next = keys[keys.indexOf(last) + 1] ?? last;
      const boundaries = [{ gte: last }, { gt: last }, { lte: last }, { lt: last }, { gte: next }, { lt: next }, { lte: next }, { gt: last, lt: next }];
      for (const range of [...boundaries, { gt: last, lte: partitions.lastKey(Math.min(partition + 2, partitions.count - 1)) }]) {
        for (const reverse of [false, true]) {
          const fromRun = await drain(await reader.cursor(range, reverse));
          expect(fromRun.length).toBe(modelScan(sorted, range, reverse).length);
          expect(fromRun).toEqual(modelScan(sorted, range, reverse));
        }
      }
    }
    expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
    expect(await drain(await reader.cursor({}, false, { fillCache: false }))).toEqual(modelScan(sorted, {}, false));
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });

  it('open keeps only the top-level index resident; a get brings one filter and one index partition into the cache', async () => {
    const sorted = manyPartitionEntries();
    const { fileSystem, descriptor, reader: first } = await writeAndOpen(hash, sorted);
    await first.close();
    const cache = new BlockCache(64 * 1024 * 1024);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
    expect(cache.blocks).toBe(0);
    expect(reader.memoryBytes).toBeLessThan(RUN_PAGE_BYTES * 8);
    const key = `01234-${'p'.repeat(180)}`;
    expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    // The filter partition, the index partition, the data block.
    expect(cache.blocks).toBe(3);
    expect(cache.partitionMisses).toBe(2);
    expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    expect(cache.partitionHits).toBe(2);
    expect(cache.blocks).toBe(3);
    await reader.close();
  });

  it('filter partitions: every present key passes, absent keys inside the span pass rarely (about 1%)', async () => {
    const entries: RunEntry[] = [];
    for (let key = 0; key < 20_000; key++) entries.push({ key: `k${String(key * 2).padStart(7, '0')}${'f'.repeat(90)}`, version: 1, value: Buffer.from('v') });
    const { reader } = await writeAndOpen(hash, entries);
    expect(top(reader).count).toBeGreaterThan(5);
    for (const entry of entries) expect(await reader.mayContain(entry.key)).toBe(true);
    let passed = 0;
    for (let key = 0; key < 20_000; key++) if (await reader.mayContain(`k${String(key * 2 + 1).padStart(7, '0')}${'f'.repeat(90)}`)) passed++;
    // 10 bits per key and 7 probes: about 0.8% expected; a broken partition choice or filter gives far more (or misses present keys).
    expect(passed).toBeGreaterThan(0);
    expect(passed / 20_000).toBeLessThan(0.03);
    await reader.close();
  });
});

describe('partitions in the block cache', () => {
  it('a touched partition gets a second chance at eviction; an evicted or dropped slot reads held false and lets go of its partition', () => {
    const cache = new BlockCache(3 * (1000 + BLOCK_CACHE_BYTES_PER_ENTRY));
    const first = cache.setPartition(1, 0, { name: 'first' }, 1000);
    const second = cache.setPartition(1, RUN_PAGE_BYTES, { name: 'second' }, 1000);
    const third = cache.setPartition(1, 2 * RUN_PAGE_BYTES, { name: 'third' }, 1000);
    expect([first.held, second.held, third.held]).toEqual([true, true, true]);
    cache.touchPartition(first); // the oldest, but touched
    cache.setPartition(1, 3 * RUN_PAGE_BYTES, { name: 'fourth' }, 1000);
    expect(first.held).toBe(true);
    expect(second.held).toBe(false);
    expect(second.partition).toBeUndefined();
    expect(cache.blocks).toBe(3);
    expect(cache.bytes).toBe(3 * (1000 + BLOCK_CACHE_BYTES_PER_ENTRY));
    // Moved behind the third, its flag spent: the third goes next, then (untouched since) the first.
    cache.setPartition(1, 4 * RUN_PAGE_BYTES, { name: 'fifth' }, 1000);
    expect([first.held, third.held]).toEqual([true, false]);
    cache.setPartition(1, 5 * RUN_PAGE_BYTES, { name: 'sixth' }, 1000);
    expect([first.held, first.partition]).toEqual([false, undefined]);
    expect(cache.getPartition(1, 3 * RUN_PAGE_BYTES)).toEqual({ name: 'fourth' });
    const fourth = cache.lookupPartition(1, 3 * RUN_PAGE_BYTES)!;
    cache.dropRun(1);
    expect([fourth.held, fourth.partition]).toEqual([false, undefined]);
    expect(cache.bytes).toBe(0);
    // A partition larger than the cache is handed back in a slot that is not held.
    const huge = cache.setPartition(2, 0, { name: 'huge' }, 10_000);
    expect([huge.held, huge.partition]).toEqual([false, { name: 'huge' }]);
    expect(cache.blocks).toBe(0);
  });

  it('reads through a cache too small for all partitions stay exact (kept slots of evicted partitions are re-read)', async () => {
    const sorted = manyPartitionEntries();
    const { fileSystem, descriptor, reader: first } = await writeAndOpen(hash, sorted);
    await first.close();
    const cache = new BlockCache(3 * RUN_PAGE_BYTES);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
    await expectExact(reader, sorted);
    await expectExact(reader, sorted);
    expect(cache.evictions).toBeGreaterThan(0);
    expect(cache.bytes).toBeLessThanOrEqual(3 * RUN_PAGE_BYTES);
    await reader.close();
  });
});

describe('a damaged partition page', () => {
  for (const kind of ['index', 'filter'] as const) {
    it(`${kind} partition: rebuilt from parity and written back; without parity a CorruptionError naming the file and offset; verify reports it and writes nothing`, async () => {
      const sorted = manyPartitionEntries();
      const { fileSystem, descriptor, reader: probe } = await writeAndOpen(hash, sorted);
      const partitions = top(probe);
      const partition = Math.floor(partitions.count / 2);
      const logicalOffset = kind === 'index' ? partitions.indexOffset(partition) : partitions.filterOffset(partition);
      const physical = physicalOffset(probe, logicalOffset);
      const layout = new StripeLayout(probe.footer.stripeDataPages, RUN_PAGE_BYTES);
      const parityOffset = layout.stripeOffset(layout.stripeOfLogicalPage(logicalOffset / RUN_PAGE_BYTES)) + layout.stripeDataPages * RUN_PAGE_BYTES;
      const keysInPartition = [...new Set(sorted.map((entry) => entry.key))].filter((key) => probe.partitionAtOrAfter(key) === partition);
      expect(keysInPartition.length).toBeGreaterThan(0);
      await probe.close();
      const path = runPath(descriptor);
      const original = Buffer.from(await fileSystem.readFile(path));

      // One bad page: verify finds it and writes nothing; a read rebuilds it and writes it back.
      await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x42), physical);
      const damaged = Buffer.from(await fileSystem.readFile(path));
      const verifier = await reopen(fileSystem, descriptor, { repair: false });
      const problems = (await verifier.verify()).problems;
      expect(problems).toEqual([expect.objectContaining({ offset: logicalOffset, reason: expect.stringContaining(kind) })]);
      await expect(verifier.versions(keysInPartition[0]!)).rejects.toMatchObject({ file: path, offset: logicalOffset });
      await verifier.close();
      expect(Buffer.from(await fileSystem.readFile(path)).equals(damaged)).toBe(true);
      const events: Array<{ kind: unknown; logicalOffset: number }> = [];
      const reader = await reopen(fileSystem, descriptor, { onRepair: (event) => events.push(event) });
      await expectExact(reader, sorted);
      expect(events).toEqual([expect.objectContaining({ kind: kind === 'index' ? BlockKind.index : BlockKind.filter, logicalOffset, rewritten: true })]);
      expect(Buffer.from(await fileSystem.readFile(path)).equals(original)).toBe(true);
      await reader.close();

      // The page and its stripe's parity both bad: nothing can rebuild it, reads of its keys fail typed, other partitions read on.
      await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x42), physical);
      await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x17), parityOffset);
      const broken = await reopen(fileSystem, descriptor);
      const error = await broken.versions(keysInPartition[0]!).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CorruptionError);
      expect(error).toMatchObject({ file: path, offset: logicalOffset });
      const elsewhere = sorted.filter((entry) => broken.partitionAtOrAfter(entry.key) !== partition && broken.partitionAtOrAfter(entry.key) !== partition + 1 && broken.partitionAtOrAfter(entry.key) !== partition - 1);
      await expectExact(broken, elsewhere);
      const report = await broken.verify();
      expect(report.problems.map((problem) => problem.offset)).toContain(logicalOffset);
      await broken.close();
    });
  }
});
