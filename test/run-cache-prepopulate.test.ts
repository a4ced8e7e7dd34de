/**
 * Block cache prepopulation by a flush (src/engine/flusher.ts, issue 7's hot gets):
 * the run a flush writes has its data blocks and its index and filter partitions in
 * the block cache once installed, each identical to what a read from disk decodes,
 * under the key a read uses, so a get right after the flush reads no file; and only
 * the cache's free room is used (no block of another run is evicted).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { readStored } from '../src/codec/values.js';
import type { ReadView } from '../src/engine/read-view.js';
import { StorageEngine } from '../src/engine/storage-engine.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { FLUSH_PREPOPULATE_CACHE_SHARE } from '../src/engine/flusher.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BlockCache } from '../src/run/block-cache.js';
import { decodeDataBlock } from '../src/run/data-block.js';
import type { DecodedBlock } from '../src/run/data-block.js';
import { RunReader } from '../src/run/run-reader.js';
import type { RunPartition } from '../src/run/run-partitions.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { openBareEngine as openEngine } from './support/bare-engine.js';

/** Counts reads (read and readSync) of run files. */
class ReadCountingFileSystem extends ForwardingFileSystem {
  runReads = 0;

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const isRun = /\/runs\//.test(path);
    const counted: FileHandle = {
      path: handle.path,
      read: (buffer, offset, length, position) => {
        if (isRun) this.runReads++;
        return handle.read(buffer, offset, length, position);
      },
      write: (data, position) => handle.write(data, position),
      datasync: (mayBlock) => handle.datasync(mayBlock),
      sync: () => handle.sync(),
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
    const readSync = handle.readSync?.bind(handle);
    if (readSync !== undefined) {
      counted.readSync = (buffer, offset, length, position) => {
        if (isRun) this.runReads++;
        return readSync(buffer, offset, length, position);
      };
    }
    return counted;
  }
}

/** Keys of about 100 bytes: index entries are large, so a few thousand keys make several index partitions. */
const key = (index: number) => `key-${'k'.repeat(90)}-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => `value ${index} ${'v'.repeat(90)}`;

/** Commits keys [from, to), one version each after `version`; returns the last version. */
function putKeys(engine: StorageEngine, from: number, to: number, version: number): number {
  for (let index = from; index < to; index++) engine.apply(++version, [{ key: key(index), slot: valueOf(index) }], Infinity);
  return version;
}

/** Everything a read uses of a decoded data block (its private key arrays through `keys`), cheap to compare. */
function blockShape(block: DecodedBlock) {
  return {
    bytes: block.bytes.toString('hex'),
    keys: block.keys,
    versions: Array.from(block.versions),
    valueOffsets: Array.from(block.valueOffsets),
    valueLengths: Array.from(block.valueLengths),
    sizeBytes: block.sizeBytes,
  };
}

/** Everything a read uses of an index partition; `lastKeys` are the last keys of its blocks as read from disk. */
function partitionShape(partition: RunPartition, lastKeys: readonly string[]) {
  const { index } = partition;
  const blocks = Array.from({ length: index.blockCount }, (_, local) => ({
    offset: index.offset(local),
    lengthBytes: index.lengthBytes(local),
    checksum: index.checksum(local).toString(16),
    lastKeyMatches: index.compareLastKey(lastKeys[local]!, local) === 0,
  }));
  return { number: partition.number, firstBlock: partition.firstBlock, memoryBytes: index.memoryBytes, blocks };
}

async function valueAt(view: ReadView, name: string, version: number): Promise<unknown> {
  const slot = await view.slotAsOf(name, { version, referenceVersion: version, pinFloor: Infinity });
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}

describe('a flush prepopulates the block cache', () => {
  it('holds every data block and partition of the flushed run, each equal to what a read from disk decodes', async () => {
    const fileSystem = new FaultFileSystem(71);
    const engine = await openEngine(fileSystem);
    putKeys(engine, 0, 3000, 0);
    expect(engine.cache.blocks).toBe(0);
    await engine.checkpoint();
    const [run] = engine.runSet.runs;
    const reader = await run!.reader();
    const top = reader.topLevelIndex!;
    expect(top.count).toBeGreaterThan(1); // several partitions: both kinds checked more than once
    const dataBlocks = reader.footer.dataBlockCount;
    expect(dataBlocks).toBeGreaterThan(100);
    expect(engine.cache.blocks).toBe(dataBlocks + 2 * top.count);
    expect(engine.cache.bytes).toBeLessThanOrEqual(engine.cache.maxBytes);

    // A second reader of the same file with its own cache reads everything from disk.
    const diskCache = new BlockCache(64 * 1024 * 1024);
    const diskReader = await RunReader.open(fileSystem, engine.runSet.config.runsDirectory, run!.descriptor, engine.runSet.config.hash, diskCache);
    const runId = run!.descriptor.runId;
    for (let number = 0; number < top.count; number++) {
      const fromDisk = await diskReader.partition(number);
      const prepopulated = engine.cache.getPartition<RunPartition>(runId, top.indexOffset(number));
      expect(prepopulated).toBeDefined();
      expect(prepopulated === fromDisk).toBe(false);
      const lastKeys: string[] = [];
      for (let local = 0; local < fromDisk.index.blockCount; local++) lastKeys.push((await diskReader.readBlockWithoutFill(fromDisk.firstBlock + local)).keys.at(-1)!);
      const diskShape = partitionShape(fromDisk, lastKeys);
      expect(diskShape.blocks.every((block) => block.lastKeyMatches)).toBe(true);
      expect(partitionShape(prepopulated!, lastKeys)).toEqual(diskShape);
      await diskReader.mayContain(top.lastKey(number));
      const diskFilter = diskCache.getPartition(runId, top.filterOffset(number));
      expect(diskFilter).toBeDefined();
      expect(engine.cache.getPartition(runId, top.filterOffset(number))).toEqual(diskFilter);
    }
    const missesBefore = engine.cache.misses;
    for (let block = 0; block < dataBlocks; block++) {
      const prepopulated = reader.blockIfCached(block);
      expect(prepopulated).toBeDefined();
      const fromDisk = await diskReader.readBlockWithoutFill(block);
      expect(prepopulated === fromDisk).toBe(false);
      expect(blockShape(prepopulated!)).toEqual(blockShape(fromDisk));
    }
    expect(engine.cache.misses).toBe(missesBefore);
    await diskReader.close();
    await engine.close();
  });

  it('a get of every key right after the flush reads no run file', async () => {
    const fileSystem = new ReadCountingFileSystem(new FaultFileSystem(72));
    const engine = await openEngine(fileSystem);
    const version = putKeys(engine, 0, 2000, 0);
    await engine.checkpoint();
    expect(engine.runSet.runs).toHaveLength(1);
    expect(engine.memtables.active.memoryBytes).toBeLessThan(10_000); // the data is in the run, not a memtable
    const readsBefore = fileSystem.runReads;
    const missesBefore = engine.cache.misses;
    const view = engine.view();
    for (let index = 0; index < 2000; index++) expect(await valueAt(view, key(index), version)).toBe(valueOf(index));
    expect(await valueAt(view, 'key-absent', version)).toBeUndefined();
    expect(fileSystem.runReads - readsBefore).toBe(0);
    expect(engine.cache.misses).toBe(missesBefore);
    await engine.close();
  });

  it('uses only free room below its share: hot blocks of another run stay, the new run gets what fits, the bound holds', async () => {
    const engine = await openEngine(new FaultFileSystem(73));
    let version = putKeys(engine, 0, 2000, 0);
    await engine.checkpoint();
    const [older] = engine.runSet.runs;
    const olderReader = await older!.reader();
    const olderBlocks = olderReader.footer.dataBlockCount;
    // Leave room for a few blocks only under the share a flush may fill.
    const heldBytes = engine.cache.bytes;
    const roomBytes = 6 * 4096;
    engine.cache.maxBytes = Math.ceil((heldBytes + roomBytes) / FLUSH_PREPOPULATE_CACHE_SHARE);
    const evictionsBefore = engine.cache.evictions;

    version = putKeys(engine, 2000, 4000, version);
    await engine.checkpoint();
    expect(engine.runSet.runs).toHaveLength(2);
    expect(engine.cache.evictions).toBe(evictionsBefore);
    expect(engine.cache.bytes).toBeLessThanOrEqual(engine.cache.maxBytes);
    expect(engine.cache.bytes).toBeGreaterThan(heldBytes); // something of the new run went in
    // Data blocks up to the share (the last one may cross it), the run's few partitions beside them.
    expect(engine.cache.bytes).toBeLessThanOrEqual(heldBytes + roomBytes + 16 * 4096);
    for (let block = 0; block < olderBlocks; block++) expect(olderReader.blockIfCached(block)).toBeDefined();
    const newer = await engine.runSet.runs[1]!.reader();
    const newerCached = Array.from({ length: newer.footer.dataBlockCount }, (_, block) => newer.blockIfCached(block) !== undefined);
    expect(newerCached.some((cached) => !cached)).toBe(true);

    // Reads stay exact whatever was prepopulated.
    const view = engine.view();
    for (let index = 0; index < 4000; index += 37) expect(await valueAt(view, key(index), version)).toBe(valueOf(index));
    await engine.close();
  });
});

describe('BlockCache.insertIfRoom', () => {
  /** A decoded one-entry block (the cache looks at sizeBytes only). */
  function oneEntryBlock(): DecodedBlock {
    const bytes = Buffer.alloc(4096);
    bytes.writeUInt16LE(1, 16);
    bytes.write('k', 18, 'latin1');
    bytes[19] = 1;
    bytes.writeUInt32LE(10, 28);
    return decodeDataBlock('test', 0, bytes, 2 + 1 + 1 + 8 + 4 + 10, 1);
  }

  it('takes only free room, never evicts, keeps a block already held, counts no hit or miss', () => {
    const slotBytes = oneEntryBlock().sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const cache = new BlockCache(2 * slotBytes);
    const held = oneEntryBlock();
    cache.set(1, 0, held);
    expect(cache.insertIfRoom(1, 0, oneEntryBlock())).toBe(false); // already held: the first copy stays
    expect(cache.insertIfRoom(2, 0, oneEntryBlock())).toBe(true);
    expect(cache.freeBytes).toBe(0);
    expect(cache.insertIfRoom(2, 4096, oneEntryBlock())).toBe(false); // full: nothing evicted for it
    expect(cache.insertPartitionIfRoom(2, 8192, { partition: true }, 1)).toBe(false);
    expect(cache.stats()).toMatchObject({ blocks: 2, bytes: 2 * slotBytes, evictions: 0, hits: 0, misses: 0 });
    expect(cache.get(1, 0)).toBe(held);
  });
});
