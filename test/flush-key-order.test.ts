/**
 * A random memtable flushed through the flush thread in arrival order
 * (memtableEntriesInArrivalOrder in src/engine/memtable-entries.ts, KeyRangeChunks in
 * src/engine/flush-key-order.ts; issue 12): the main thread walks each key range's keys
 * in the order they arrived and the thread sorts them. What must hold: the walk gives
 * every entry of the key-order walk, a key's entries together and in run order, the
 * ranges ascending and each one a slice of the sorted keys; the thread's run is byte for
 * byte the in-process key-order run of the same memtable (chains of several versions,
 * tombstones, NOT_RETAINED markers, a key whose versions straddle chunks, values larger
 * than a chunk, keys of the ascending tail after random ones); a memtable of ascending
 * keys is not walked this way; a store of random keys flushes this way and reads back.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FLUSH_CHUNK_BYTES, FlushChunkPacker } from '../src/engine/flush-chunks.js';
import { KeyRangeChunks } from '../src/engine/flush-key-order.js';
import { FlushThread, flushThreadCounters, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { ARRIVAL_ORDER_RANGE_KEYS_MIN, ARRIVAL_ORDER_RANGES_MAX, memtableEntries, memtableEntriesInArrivalOrder } from '../src/engine/memtable-entries.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { openStore } from '../src/index.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { type SealedBlock, writeRun } from '../src/run/run-writer.js';
import { removeTemporaryDirectories, shuffled, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(() => {
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  removeTemporaryDirectories();
});

const MAX_VERSIONS = 6;
/** More than two ranges' worth of keys, so the walk is cut into ARRIVAL_ORDER_RANGES_MAX ranges. */
const RANDOM_KEYS = 2 * ARRIVAL_ORDER_RANGE_KEYS_MIN + 1500;

/**
 * A memtable whose keys arrive in random order with every shape a flush meets: one
 * version, several, tombstones, chains trimmed by retention (NOT_RETAINED markers), a
 * key with six 60 KB versions (more than a chunk: its entries straddle chunks), two
 * values larger than a chunk, and after it all, keys above every other (the ascending
 * tail beside the Map).
 */
function randomMemtable(): MemoryIndex {
  const index = new MemoryIndex(MAX_VERSIONS);
  let version = 0;
  const apply = (operations: IndexOperation[]): void => {
    version++;
    index.apply(version, operations, version);
  };
  const keyOf = (number: number): string => internalKey(`key-${String((number * 7919) % 100_003).padStart(6, '0')}`);
  const order = shuffled(Array.from({ length: RANDOM_KEYS }, (_, number) => number), 12345);
  for (let start = 0; start < order.length; start += 64) {
    apply(order.slice(start, start + 64).map((number) => ({ key: keyOf(number), slot: prepareValue({ number, text: 'v'.repeat(number % 300) }, 1 << 22).stored })));
  }
  for (let round = 0; round < 8; round++) {
    const operations: IndexOperation[] = [];
    for (const number of shuffled(Array.from({ length: 600 }, (_, at) => at * 7), round + 1)) {
      // Keys rewritten 8 times are trimmed to MAX_VERSIONS (a NOT_RETAINED marker); others 3 times, or deleted.
      if (round >= 3 && number % 2 === 0) continue;
      operations.push({ key: keyOf(number), slot: number % 11 === 0 ? TOMBSTONE : prepareValue({ number, round }, 1 << 22).stored });
    }
    operations.push({ key: internalKey('key-straddle'), slot: prepareValue(Buffer.alloc(60_000, round), 1 << 22).stored });
    apply(operations);
  }
  apply(['large-a', 'large-b'].map((name) => ({ key: internalKey(name), slot: prepareValue(Buffer.alloc(FLUSH_CHUNK_BYTES + 1000, 7), 1 << 22).stored })));
  for (let number = 0; number < 200; number++) {
    apply([{ key: internalKey(Uint8Array.of(0xff, 0xff, 0xff, number)), slot: prepareValue(Buffer.alloc(40 + number, number), 1 << 22).stored }]);
  }
  return index;
}

/** One string per entry (the walks reuse one entry object; strings compare fast where deep equality of 260 KB values did not). */
function signatures(entries: Iterable<RunEntry>): string[] {
  return Array.from(entries, signature);
}

function signature(entry: RunEntry): string {
  return JSON.stringify([entry.key, entry.version, entry.value === undefined ? null : Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength).toString('base64')]);
}

const keyOfSignature = (text: string): string => (JSON.parse(text) as [string])[0];

/** Of each of `keys` (distinct), its position among them sorted. */
function positionsInKeyOrder(keys: readonly string[]): number[] {
  const sorted = [...keys].sort();
  const positions = new Map(sorted.map((key, position) => [key, position]));
  return keys.map((key) => positions.get(key)!);
}

/** Sealed blocks as strings, bytes included. */
const blockSignatures = (blocks: readonly SealedBlock[]): string[] =>
  blocks.map((block) => `${block.kind} ${block.offset} ${block.payloadBytes} ${block.entryCount} ${Buffer.from(block.bytes).toString('base64')}`);

describe('the arrival-order walk of a memtable', () => {
  it('gives every entry of the key-order walk, by key range, each key together and in run order', () => {
    const index = randomMemtable();
    const inKeyOrder = signatures(memtableEntries(index));
    const walk = memtableEntriesInArrivalOrder(index);
    expect(walk).toBeDefined();
    const seen: string[] = [];
    const ranges: number[] = [];
    for (let next = walk!.next(); next.done !== true; next = walk!.next()) {
      seen.push(signature(next.value));
      ranges.push(walk!.range);
    }
    expect(inKeyOrder.some((text) => text.endsWith(',null]'))).toBe(true);
    expect(seen.length).toBe(inKeyOrder.length);
    expect(seen).not.toEqual(inKeyOrder); // the keys are not in key order, else this walk tests nothing
    // Each key's entries together, exactly as the key-order walk gives them, in one range;
    // ranges ascend, and each holds a slice of the key order.
    const groups = new Map<string, string[]>();
    for (const text of inKeyOrder) {
      const key = keyOfSignature(text);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [text]);
      else group.push(text);
    }
    const rangeKeys: string[][] = [];
    let position = 0;
    while (position < seen.length) {
      const key = keyOfSignature(seen[position]!);
      const range = ranges[position]!;
      const group = groups.get(key)!;
      expect(seen.slice(position, position + group.length)).toEqual(group);
      expect(ranges.slice(position, position + group.length).every((other) => other === range)).toBe(true);
      expect(range === rangeKeys.length - 1 || range === rangeKeys.length).toBe(true);
      if (range === rangeKeys.length) rangeKeys.push([]);
      rangeKeys[range]!.push(key);
      position += group.length;
    }
    expect(rangeKeys.length).toBe(ARRIVAL_ORDER_RANGES_MAX);
    expect(rangeKeys.flatMap((keys) => [...keys].sort())).toEqual([...groups.keys()]);
    // Ranges as even as the sample makes them (neither holds less than a third of the keys).
    for (const keys of rangeKeys) expect(keys.length).toBeGreaterThan(groups.size / 3);
  });

  it('is not taken for a memtable of ascending keys (its arrival order is key order)', () => {
    const index = new MemoryIndex(2);
    for (let number = 0; number < 5000; number++) index.apply(number + 1, [{ key: internalKey(`key-${String(number).padStart(6, '0')}`), slot: number }], number + 1);
    index.apply(5001, [{ key: internalKey('key-000007'), slot: 'rewritten' }], 5001);
    expect(memtableEntriesInArrivalOrder(index)).toBeUndefined();
  });
});

describe('KeyRangeChunks', () => {
  it("hands back one range's entries in run order, keys straddling chunks included", () => {
    const index = randomMemtable();
    const inKeyOrder = signatures(memtableEntries(index));
    // The whole memtable as one range: pack the arrival walk's entries, whatever its ranges.
    const range = new KeyRangeChunks();
    const packer = new FlushChunkPacker();
    const keysPacked: string[] = [];
    for (const entry of memtableEntriesInArrivalOrder(index)!) {
      if (keysPacked.at(-1) !== entry.key) keysPacked.push(entry.key);
      if (!packer.add(entry)) {
        range.add(packer.take());
        expect(packer.add(entry)).toBe(true);
      }
    }
    range.add(packer.take());
    expect(range.chunks.length).toBeGreaterThan(10);
    // The thread sorts the range's keys (the seal does not): every key's position among them sorted, in the order packed.
    const keyOrder = range.keyOrder();
    expect([...keyOrder]).toEqual(positionsInKeyOrder(keysPacked));
    expect(signatures([...range.batches(keyOrder)].flat())).toEqual(inKeyOrder);
  });
});

describe('the flush thread writes a memtable sent in arrival order exactly as the key-order flush', () => {
  it('same memtable, run id and generation: identical file bytes, descriptor and sealed blocks', async () => {
    const hash = await loadHash64();
    const index = randomMemtable();
    const inProcess = temporaryDirectory();
    const threaded = temporaryDirectory();
    const blocksInProcess: SealedBlock[] = [];
    const expected = await writeRun({
      fileSystem: new NodeFileSystem(), runsDirectory: inProcess, runId: 7, generation: 987654321, level: 0, hash, entries: memtableEntries(index),
      onBlockSealed: (block) => blocksInProcess.push({ ...block, bytes: Buffer.from(block.bytes) }),
    });
    const thread = new FlushThread();
    const before = flushThreadCounters.arrivalOrderFlushes;
    const outcome = await thread.flush({ runsDirectory: threaded, runId: 7, generation: 987654321, level: 0, keepDataBytes: 1 << 30 }, memtableEntriesInArrivalOrder(index)!, true);
    await installTemporaryRun(new NodeFileSystem(), threaded, 7); // the main side's half (run-install.ts)
    expect(flushThreadCounters.arrivalOrderFlushes - before).toBe(1);
    expect(outcome.descriptor).toEqual(expected);
    expect(expected.entryCount).toBeGreaterThan(RANDOM_KEYS);
    expect(readdirSync(threaded)).toEqual([expected.fileName]);
    expect(readFileSync(join(threaded, expected.fileName)).equals(readFileSync(join(inProcess, expected.fileName)))).toBe(true);
    expect(blockSignatures(outcome.blocks)).toEqual(blockSignatures(blocksInProcess));
    // The thread stays usable for a key-order flush after it.
    const next = await thread.flush({ runsDirectory: threaded, runId: 8, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(index));
    expect(next.descriptor.entryCount).toBe(expected.entryCount);
    await thread.close();
  }, 60_000);
});

describe('a store of random keys', () => {
  it('flushes in arrival order through the thread and reads every key back, before and after a reopen', async () => {
    flushSettings.threadMinMemtableBytes = 0;
    const directory = temporaryDirectory();
    const keyOf = (number: number): string => `k${String((number * 104_729) % 1_000_003).padStart(7, '0')}`;
    const keys = 40_000;
    const before = flushThreadCounters.arrivalOrderFlushes;
    let store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
    for (let start = 0; start < keys; start += 500) {
      await store.batch(Array.from({ length: 500 }, (_, at) => ({ type: 'put' as const, key: keyOf(start + at), value: `value ${start + at} ${'x'.repeat((start + at) % 97)}` })));
    }
    await store.checkpoint();
    expect(flushThreadCounters.arrivalOrderFlushes - before).toBeGreaterThan(0);
    const check = async (): Promise<void> => {
      for (let number = 0; number < keys; number += 7) expect(await store.get(keyOf(number))).toBe(`value ${number} ${'x'.repeat(number % 97)}`);
      let count = 0;
      let previous = '';
      for await (const [key] of store.scan()) {
        expect(key > previous).toBe(true);
        previous = key as string;
        count++;
      }
      expect(count).toBe(keys);
    };
    await check();
    await store.close();
    store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
    await check();
    await store.close();
  }, 120_000);
});
