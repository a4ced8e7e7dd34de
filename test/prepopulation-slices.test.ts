/**
 * A flush's cache prepopulation (src/engine/cache-prepopulation.ts) runs in slices
 * across event-loop turns, not in one synchronous stretch per flush (issues 12 and 7:
 * the decode and the inserts each held the main thread 14-195 ms at a flush, and
 * every commit in flight waited): one turn inserts at most PREPOPULATE_BLOCKS_PER_SLICE
 * blocks and partitions; a run replaced meanwhile (its blocks dropped), a close, or a
 * newer sealed memtable stops it at the next slice, and nothing is inserted after.
 */
import { describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CachePrepopulation, PREPOPULATE_BLOCKS_PER_SLICE } from '../src/engine/cache-prepopulation.js';
import type { RunHandle, RunSet } from '../src/engine/run-set.js';
import { StorageEngine } from '../src/engine/storage-engine.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { openBareEngine as openEngine } from './support/bare-engine.js';

const RUNS = '/runs';
const KEY_COUNT = 3000;
/** Keys of about 100 bytes: a few thousand make well over a hundred data blocks and several partitions. */
const key = (index: number) => `key-${'k'.repeat(90)}-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => `value ${index} ${'v'.repeat(90)}`;

function* entries(): Generator<RunEntry> {
  for (let index = 0; index < KEY_COUNT; index++) yield { key: key(index), version: index + 1, value: Buffer.from(valueOf(index)) };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A run written with a prepopulation offered its blocks, a reader of it, and a cache counting the inserts it took. */
async function offeredRun() {
  const fileSystem = new FaultFileSystem(91);
  await fileSystem.mkdir(RUNS);
  const hash = await loadHash64();
  const cache = new BlockCache(64 * 1024 * 1024);
  const prepopulation = new CachePrepopulation(8 * 1024 * 1024);
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS, runId: 7, generation: 5, level: 0, hash, entries: entries(), onBlockSealed: prepopulation.offer });
  const reader = await RunReader.open(fileSystem, RUNS, descriptor, hash, cache);
  const handle = { descriptor, reader: () => Promise.resolve(reader) } as unknown as RunHandle;
  const runSet = { runs: [handle] as RunHandle[] };
  const blockInserts = vi.spyOn(cache, 'insertIfRoom');
  const partitionInserts = vi.spyOn(cache, 'insertPartitionIfRoom');
  const inserts = () => blockInserts.mock.calls.length + partitionInserts.mock.calls.length;
  const total = reader.footer.dataBlockCount + 2 * reader.topLevelIndex!.count;
  expect(cache.blocks).toBe(0);
  expect(total).toBeGreaterThan(2 * PREPOPULATE_BLOCKS_PER_SLICE); // at least three slices
  return { prepopulation, handle, runSet: runSet as unknown as RunSet & { runs: RunHandle[] }, cache, inserts, total, runId: descriptor.runId };
}

describe('prepopulation in slices', () => {
  it('one event-loop turn inserts at most PREPOPULATE_BLOCKS_PER_SLICE blocks; every block still goes in', async () => {
    const { prepopulation, handle, runSet, cache, inserts, total } = await offeredRun();
    const perTurn: number[] = [];
    let done = false;
    const sampler = (async () => {
      let last = 0;
      while (!done) {
        await nextTurn();
        perTurn.push(inserts() - last);
        last = inserts();
      }
    })();
    const inserted = await prepopulation.insert(handle, runSet, cache, () => false);
    done = true;
    await sampler;
    expect(inserted).toBe(total);
    expect(cache.blocks).toBe(total);
    expect(perTurn.reduce((sum, count) => sum + count, 0)).toBe(total);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(PREPOPULATE_BLOCKS_PER_SLICE);
    expect(perTurn.filter((count) => count > 0).length).toBeGreaterThanOrEqual(Math.ceil(total / PREPOPULATE_BLOCKS_PER_SLICE));
  });

  it('a run replaced between slices (its blocks dropped) gets nothing inserted afterwards', async () => {
    const { prepopulation, handle, runSet, cache, inserts, total, runId } = await offeredRun();
    let insertsAtRetire: number | undefined;
    const retire = (async () => {
      while (inserts() === 0) await nextTurn();
      // A compaction installs its merge (the run leaves the live set) and the run's file goes: dropRun.
      runSet.runs = [];
      cache.dropRun(runId);
      insertsAtRetire = inserts();
    })();
    const inserted = await prepopulation.insert(handle, runSet, cache, () => false);
    await retire;
    expect(insertsAtRetire).toBeDefined();
    expect(insertsAtRetire!).toBeLessThan(total);
    expect(inserts()).toBe(insertsAtRetire);
    expect(inserted).toBeLessThan(total);
    expect(cache.blocks).toBe(0); // no block of the retired run outlives its dropRun
    expect(cache.bytes).toBe(0);
  });

  it('stop() turning true between slices ends the insert there', async () => {
    const { prepopulation, handle, runSet, cache, inserts, total } = await offeredRun();
    let stopped = false;
    let insertsAtStop = 0;
    const stopper = (async () => {
      while (inserts() === 0) await nextTurn();
      stopped = true;
      insertsAtStop = inserts();
    })();
    const inserted = await prepopulation.insert(handle, runSet, cache, () => stopped);
    await stopper;
    expect(insertsAtStop).toBeGreaterThan(0);
    expect(insertsAtStop).toBeLessThan(total);
    expect(inserts()).toBe(insertsAtStop);
    expect(inserted).toBe(cache.blocks);
  });
});

function putKeys(engine: StorageEngine, from: number, to: number, version: number): number {
  for (let index = from; index < to; index++) engine.apply(++version, [{ key: key(index), slot: valueOf(index) }], Infinity);
  return version;
}

describe('the flusher stops a prepopulation in progress', () => {
  it('close() during the offer: nothing is inserted once close() began, and none after it resolved', async () => {
    const engine = await openEngine(new FaultFileSystem(92));
    putKeys(engine, 0, KEY_COUNT, 0);
    const blockInserts = vi.spyOn(engine.cache, 'insertIfRoom');
    let insertsAtClose: number | undefined;
    let closing: Promise<void> | undefined;
    const closer = (async () => {
      while (blockInserts.mock.calls.length === 0) await nextTurn();
      insertsAtClose = blockInserts.mock.calls.length;
      closing = engine.close();
    })();
    await engine.checkpoint(); // the run is installed; its prepopulation stops at the close
    await closer;
    await closing;
    const insertsAfterClose = blockInserts.mock.calls.length;
    for (let turn = 0; turn < 5; turn++) await nextTurn();
    expect(insertsAtClose).toBeDefined();
    expect(blockInserts.mock.calls.length).toBe(insertsAtClose);
    expect(insertsAfterClose).toBe(insertsAtClose);
    expect(insertsAtClose!).toBeLessThan(KEY_COUNT / 30); // a 4 KiB block holds under 30 of these entries: most were left out
  });

  it('a memtable sealed during the offer stops it (the next flush matters more); reads stay exact', async () => {
    const engine = await openEngine(new FaultFileSystem(93));
    let version = putKeys(engine, 0, KEY_COUNT, 0);
    const blockInserts = vi.spyOn(engine.cache, 'insertIfRoom');
    let insertsAtSeal: number | undefined;
    let secondCheckpoint: Promise<unknown> | undefined;
    const sealer = (async () => {
      while (blockInserts.mock.calls.length === 0) await nextTurn();
      insertsAtSeal = blockInserts.mock.calls.length;
      version = putKeys(engine, KEY_COUNT, KEY_COUNT + 10, version);
      secondCheckpoint = engine.checkpoint();
    })();
    await engine.checkpoint();
    await sealer;
    await secondCheckpoint;
    const firstRunId = engine.runSet.runs[0]!.descriptor.runId;
    const insertsAfterFirstFlush = blockInserts.mock.calls.filter(([runId]) => runId === firstRunId).length;
    const firstRun = await engine.runSet.runs[0]!.reader();
    expect(insertsAtSeal).toBeDefined();
    expect(insertsAfterFirstFlush).toBe(insertsAtSeal);
    expect(insertsAtSeal!).toBeLessThan(firstRun.footer.dataBlockCount);
    const view = engine.view();
    for (let index = 0; index < KEY_COUNT + 10; index += 41) {
      const slot = await view.slotAsOf(key(index), { version, referenceVersion: version, pinFloor: Infinity });
      expect(slot).toBeDefined();
    }
    await engine.close();
  });
});
