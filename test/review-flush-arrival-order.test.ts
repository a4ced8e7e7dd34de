/**
 * Review of the flush of a random memtable in arrival order through the flush thread
 * (memtableEntriesInArrivalOrder in src/engine/memtable-entries.ts, KeyRangeChunks in
 * src/engine/flush-key-order.ts, flush-thread.ts, flusher.ts; issue 12), against what
 * the key-order flush guarantees:
 *
 * - whatever touches the sealed memtable while its walk is under way (a scan's sort of
 *   its waiting keys into the tree, which moves the ascending tail into the Map; a point
 *   read in the tail's range; the flush's carry-over `holds`), the run is byte for byte
 *   the key-order run of the same memtable, whether that happens before the first range
 *   ends, at the range boundary or in the last range;
 * - a key with 500,000 versions (a counter) beside random keys: the thread writes it
 *   within its heap bound, as the key-order flush does (it handed the writer each key's
 *   entries in one batch and ran out of heap: fails before the fix in flush-key-order.ts);
 * - the thread dying mid-range (a range's chunks held, the next range in transit), or
 *   while the first range is still arriving (the packing, which does not wait for the
 *   thread, stops at its next turn): the memtable is written in process, nothing
 *   acknowledged lost, reopen exact;
 * - a full disk in the thread: the flush is retried (in arrival order again) and the
 *   store reads back exactly; a failed fsync is final;
 * - close() while an arrival-order flush is held: close waits for it, reopen exact.
 *
 * Every store-level case asserts its flush went in arrival order (the 'begin' message's
 * flag), else it would test the key-order path. No timing: deaths land where the worker
 * waits (test/support/worker-death.ts).
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import {
  FLUSH_THREAD_OLD_GENERATION_MB, FlushThread, flushThreadCounters, flushThreadsRunning, flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes,
} from '../src/engine/flush-thread.js';
import { FLUSH_ARRIVAL_ORDER_BYTES_MAX, FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { type ArrivalOrderEntries, ARRIVAL_ORDER_RANGE_KEYS_MIN, memtableEntries, memtableEntriesInArrivalOrder } from '../src/engine/memtable-entries.js';
import { DiskFullError, IoError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { openStore, type Store } from '../src/index.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { writeRun } from '../src/run/run-writer.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, shuffled, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { type Death, killWorker } from './support/worker-death.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

/** The 'begin' messages posted to any worker while installed (their arrivalOrder flag says which path a flush took). */
const begins: Array<{ worker: Worker; arrivalOrder: boolean }> = [];
const originalPostMessage = Worker.prototype.postMessage;
/** Called after each 'chunk' message is posted to a worker, while set. */
let onChunkPosted: ((worker: Worker) => void) | undefined;

beforeEach(() => {
  begins.length = 0;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
    const typed = message as { type?: unknown; arrivalOrder?: unknown } | null;
    if (typed?.type === 'begin' && typeof typed.arrivalOrder === 'boolean') begins.push({ worker: this, arrivalOrder: typed.arrivalOrder });
    const result = (originalPostMessage as (...args: unknown[]) => void).call(this, message, ...rest);
    if (typed?.type === 'chunk' && onChunkPosted !== undefined) onChunkPosted(this);
    return result;
  };
});

afterEach(() => {
  Worker.prototype.postMessage = originalPostMessage;
  onChunkPosted = undefined;
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  flushThreadTestHooks.failNextFlush = undefined;
  resumeHeldFlushes();
  removeTemporaryDirectories();
});

const RANDOM_KEYS = 2 * ARRIVAL_ORDER_RANGE_KEYS_MIN + 700;
const TAIL_KEYS = 3000;
const tailKey = (number: number): string => internalKey(`z-tail-${String(number).padStart(6, '0')}`);

/**
 * Random keys (several versions, tombstones, trimmed chains), then a long run of
 * ascending keys above them all (the ascending tail, beside the Map, with no chain
 * made), so that a scan or a read during the walk has something to move.
 */
function randomMemtableWithTail(): MemoryIndex {
  const index = new MemoryIndex(4);
  let version = 0;
  const apply = (operations: IndexOperation[]): void => {
    version++;
    index.apply(version, operations, version);
  };
  const keyOf = (number: number): string => internalKey(`key-${String((number * 7919) % 100_003).padStart(6, '0')}`);
  const order = shuffled(Array.from({ length: RANDOM_KEYS }, (_, number) => number), 777);
  for (let start = 0; start < order.length; start += 50) {
    apply(order.slice(start, start + 50).map((number) => ({ key: keyOf(number), slot: prepareValue({ number, text: 'r'.repeat(number % 200) }, 1 << 22).stored })));
  }
  for (let round = 0; round < 6; round++) {
    apply(shuffled(Array.from({ length: 400 }, (_, at) => at * 13), round + 5).map((number) => ({
      key: keyOf(number), slot: number % 5 === round % 5 ? TOMBSTONE : prepareValue({ number, round }, 1 << 22).stored,
    })));
  }
  for (let number = 0; number < TAIL_KEYS; number++) apply([{ key: tailKey(number), slot: prepareValue(Buffer.alloc(30 + (number % 50), number & 0xff), 1 << 22).stored }]);
  return index;
}

/** `walk`, calling `touch` (once) just before the entry numbered `at` is read. */
function touchedAt(walk: ArrivalOrderEntries, at: number, touch: () => void): ArrivalOrderEntries {
  let read = 0;
  return {
    get range() {
      return walk.range;
    },
    next: () => {
      if (read++ === at) touch();
      return walk.next();
    },
    [Symbol.iterator]() {
      return this;
    },
  };
}

/** The number of the first entry of range 1 (the boundary), and the entry count. */
function rangeBoundary(index: MemoryIndex): { boundary: number; count: number } {
  const walk = memtableEntriesInArrivalOrder(index)!;
  let boundary = -1;
  let count = 0;
  for (let next = walk.next(); next.done !== true; next = walk.next()) {
    if (boundary < 0 && walk.range === 1) boundary = count;
    count++;
  }
  expect(boundary).toBeGreaterThan(0);
  return { boundary, count };
}

describe('the sealed memtable touched while its arrival-order walk is under way', () => {
  const touches: Array<[string, (index: MemoryIndex) => void]> = [
    ['a scan (its waiting keys sorted into the tree, the tail moved into the Map)', (index) => void index.chainsChunk({}, undefined, false, 10)],
    ['a reverse scan chunk in the tail', (index) => void index.scanChunk({ gte: tailKey(0) }, undefined, 1e9, true, 5)],
    ['point reads in the tail (a step of it moved into the Map)', (index) => {
      for (const number of [5, 1500, TAIL_KEYS - 1]) expect(index.chain(tailKey(number))).toBeDefined();
    }],
    ['the carry-over asking whether it holds keys', (index) => void index.holds(tailKey(7))],
  ];
  for (const [name, touch] of touches) {
    it(`${name}: the thread's run is byte for byte the key-order run, touched in range 0, at the boundary and in range 1`, async () => {
      const hash = await loadHash64();
      const thread = new FlushThread();
      try {
        for (const where of ['range 0', 'boundary', 'range 1'] as const) {
          const index = randomMemtableWithTail();
          const expectedDirectory = temporaryDirectory();
          const expected = await writeRun({
            fileSystem: new NodeFileSystem(), runsDirectory: expectedDirectory, runId: 3, generation: 4242, level: 0, hash, entries: memtableEntries(index),
          });
          const { boundary, count } = rangeBoundary(index);
          const at = where === 'range 0' ? Math.floor(boundary / 2) : where === 'boundary' ? boundary : boundary + Math.floor((count - boundary) / 2);
          let touched = false;
          const walk = touchedAt(memtableEntriesInArrivalOrder(index)!, at, () => {
            touch(index);
            touched = true;
          });
          const directory = temporaryDirectory();
          const outcome = await thread.flush({ runsDirectory: directory, runId: 3, generation: 4242, level: 0, keepDataBytes: -1 }, walk, true);
          await installTemporaryRun(new NodeFileSystem(), directory, 3); // the main side's half (run-install.ts)
          expect(touched).toBe(true);
          expect(outcome.descriptor).toEqual(expected);
          expect(readFileSync(join(directory, expected.fileName)).equals(readFileSync(join(expectedDirectory, expected.fileName)))).toBe(true);
          // The memtable itself is unchanged: its key-order entries after the touch are those before.
          const again = temporaryDirectory();
          await writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: again, runId: 3, generation: 4242, level: 0, hash, entries: memtableEntries(index) });
          expect(readFileSync(join(again, expected.fileName)).equals(readFileSync(join(expectedDirectory, expected.fileName)))).toBe(true);
        }
      } finally {
        await thread.close();
      }
    }, 120_000);
  }
});

describe('random memtables of every shape, sent in arrival order', () => {
  it('the thread writes each byte for byte as the in-process key-order flush (seeded: a failure repeats)', async () => {
    const hash = await loadHash64();
    const thread = new FlushThread();
    try {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        let state = seed * 2_654_435_761;
        const random = (below: number): number => {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          return (state >>> 0) % below;
        };
        const index = new MemoryIndex(1 + random(6));
        const keyCount = [300, 4000, 2 * ARRIVAL_ORDER_RANGE_KEYS_MIN, 2 * ARRIVAL_ORDER_RANGE_KEYS_MIN + 1, 9000, 11_000][seed - 1]!;
        const keys = shuffled(Array.from({ length: keyCount }, (_, number) => internalKey(`s${String(random(1_000_000)).padStart(7, '0')}-${number}`)), seed);
        let version = 0;
        let pinned = 0;
        const write = (key: string): void => {
          version++;
          const roll = random(1000);
          const slot = roll < 80 ? TOMBSTONE
            : roll < 83 ? prepareValue(Buffer.alloc(100_000 + random(200_000), roll), 1 << 22).stored
            : prepareValue({ key, version, pad: 'p'.repeat(random(400)) }, 1 << 22).stored;
          if (random(50) === 0) pinned = version; // retention spares what the pinned version sees
          index.apply(version, [{ key, slot }], Math.max(pinned, version - random(20)));
        };
        for (const key of keys) write(key);
        for (let rewrite = 0; rewrite < keyCount; rewrite++) write(keys[random(Math.min(keyCount, 1 + random(keyCount)))]!);
        for (let number = 0; number < random(2000); number++) write(internalKey(`t${String(number).padStart(6, '0')}`)); // the ascending tail
        const walk = memtableEntriesInArrivalOrder(index);
        expect(walk).toBeDefined();
        const expectedDirectory = temporaryDirectory();
        const expected = await writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: expectedDirectory, runId: 9, generation: seed, level: 0, hash, entries: memtableEntries(index) });
        const directory = temporaryDirectory();
        const outcome = await thread.flush({ runsDirectory: directory, runId: 9, generation: seed, level: 0, keepDataBytes: -1 }, walk!, true);
        await installTemporaryRun(new NodeFileSystem(), directory, 9); // the main side's half (run-install.ts)
        expect(outcome.descriptor).toEqual(expected);
        expect(readFileSync(join(directory, expected.fileName)).equals(readFileSync(join(expectedDirectory, expected.fileName)))).toBe(true);
      }
    } finally {
      await thread.close();
    }
  }, 180_000);
});

describe('a key with many versions in a random memtable', () => {
  it("is written by the thread at its own heap bound, as in key order: its entries are handed to the writer in bounded batches", async () => {
    // 500,000 versions of one counter key (small integers: 24 B each in memoryBytes) beside
    // random keys: a 13 MB memtable, sent in arrival order. The thread handed the writer each
    // key's entries in one batch, so this key's half a million entry objects and value views
    // exhausted FLUSH_THREAD_OLD_GENERATION_MB and the thread died (ERR_WORKER_OUT_OF_MEMORY):
    // the flush failed over to the main thread. A key-order flush hands them a chunk at a time.
    const hash = await loadHash64();
    const index = new MemoryIndex(Infinity);
    let version = 0;
    for (let number = 0; number < 2 * ARRIVAL_ORDER_RANGE_KEYS_MIN + 100; number++) {
      version++;
      index.apply(version, [{ key: internalKey(`r${String((number * 7919) % 100_003).padStart(6, '0')}`), slot: number }], version);
    }
    for (let count = 0; count < 500_000; count++) {
      version++;
      index.apply(version, [{ key: internalKey('r050000-counter'), slot: count }], version);
    }
    expect(index.memoryBytes).toBeLessThan(FLUSH_ARRIVAL_ORDER_BYTES_MAX);
    const expectedDirectory = temporaryDirectory();
    const expected = await writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: expectedDirectory, runId: 5, generation: 77, level: 0, hash, entries: memtableEntries(index) });
    const thread = new FlushThread();
    const exitsBefore = flushThreadCounters.threadExits;
    try {
      const directory = temporaryDirectory();
      const outcome = await thread.flush({ runsDirectory: directory, runId: 5, generation: 77, level: 0, keepDataBytes: -1 }, memtableEntriesInArrivalOrder(index)!, true);
      await installTemporaryRun(new NodeFileSystem(), directory, 5); // the main side's half (run-install.ts)
      expect(flushThreadCounters.threadExits - exitsBefore).toBe(0);
      expect(outcome.descriptor).toEqual(expected);
      expect(readFileSync(join(directory, expected.fileName)).equals(readFileSync(join(expectedDirectory, expected.fileName)))).toBe(true);
    } finally {
      await thread.close();
    }
  }, 120_000);
});

// ---- Store level -------------------------------------------------------------------

const OPTIONS = { memoryBudgetBytes: 256 * 1024 * 1024, maxVersionsPerKey: 2 };
const KEYS = 12_000;
/** Random-looking keys: a memtable of them is flushed in arrival order. */
const storeKey = (index: number): string => `k${String((index * 104_729) % 1_000_003).padStart(7, '0')}`;
const storeValue = (index: number, round: number): unknown => ({ index, round, text: 'arrival order '.repeat(3 + (index % 9)) });

async function writeRound(store: Store, round: number, model: Map<string, unknown>): Promise<void> {
  for (let start = 0; start < KEYS; start += 400) {
    const operations = [];
    for (let index = start; index < start + 400; index++) {
      if (round > 0 && index % 9 === round % 9) {
        operations.push({ type: 'del' as const, key: storeKey(index) });
        model.delete(storeKey(index));
      } else {
        operations.push({ type: 'put' as const, key: storeKey(index), value: storeValue(index, round) });
        model.set(storeKey(index), storeValue(index, round));
      }
    }
    await store.batch(operations);
  }
}

async function expectModel(store: Store, model: Map<string, unknown>): Promise<void> {
  const scanned = new Map<string, unknown>();
  for await (const [key, value] of store.scan()) scanned.set(key as string, value);
  expect(scanned).toEqual(model);
  for (let index = 0; index < KEYS; index += 97) expect(await store.get(storeKey(index))).toEqual(model.get(storeKey(index)));
}

const runFiles = (directory: string): string[] => readdirSync(join(directory, 'runs')).sort();

/** A store whose thread has flushed one memtable in arrival order, with a second round of random writes waiting. */
async function storeWithRound(): Promise<{ store: Store; directory: string; model: Map<string, unknown> }> {
  flushSettings.threadMinMemtableBytes = 0;
  const directory = temporaryDirectory();
  const model = new Map<string, unknown>();
  const store = await openStore(directory, OPTIONS);
  await writeRound(store, 0, model);
  await store.checkpoint();
  expect(begins.map((begin) => begin.arrivalOrder)).toEqual([true]);
  await writeRound(store, 1, model);
  return { store, directory, model };
}

async function expectReopened(directory: string, model: Map<string, unknown>): Promise<void> {
  const reopened = await openStore(directory, OPTIONS);
  await expectModel(reopened, model);
  await reopened.close();
}

describe('the flush thread dies mid-range of an arrival-order flush', () => {
  for (const death of ['throw', 'oom', 'exit'] as Death[]) {
    it(`${death}: checkpoint() resolves, the memtable is written in process, nothing lost, no file left over, reopen exact`, async () => {
      const { store, directory, model } = await storeWithRound();
      const exitsBefore = flushThreadCounters.threadExits;
      flushThreadTestHooks.holdNextFlush = true;
      const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
      const checkpointing = store.checkpoint();
      await held;
      expect(begins.at(-1)!.arrivalOrder).toBe(true);
      // The thread holds the first range's chunks, its writer mid-range; reads and writes go on.
      expect(await store.get(storeKey(10))).toEqual(model.get(storeKey(10)));
      await store.put('during', 'the held flush');
      model.set('during', 'the held flush');
      const atKill = runFiles(directory);
      expect(atKill.filter((name) => name.endsWith('.run.tmp'))).toHaveLength(1);
      const dead = killWorker(begins.at(-1)!.worker, death, FLUSH_THREAD_OLD_GENERATION_MB);
      await checkpointing;
      await dead;
      expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
      expect(store.stats().storage.flushThreadExits).toBe(1);
      expect(runFiles(directory).filter((name) => !name.endsWith('.run'))).toEqual([]);
      expect(runFiles(directory)).toHaveLength(store.stats().storage.runs);
      await expectModel(store, model);
      await store.close();
      expect(flushThreadsRunning()).toBe(0);
      await expectReopened(directory, model);
    }, 120_000);
  }
});

describe('the flush thread dies while the first key range is still arriving', () => {
  for (const death of ['throw', 'exit'] as Death[]) {
    it(`${death}: the packing stops, the memtable is written in process, nothing lost, reopen exact`, async () => {
      const { store, directory, model } = await storeWithRound();
      const exitsBefore = flushThreadCounters.threadExits;
      let dead: Promise<unknown> | undefined;
      onChunkPosted = (worker) => {
        // Right after the flush's first chunk: the thread dies before the first range is complete.
        onChunkPosted = undefined;
        dead = killWorker(worker, death, FLUSH_THREAD_OLD_GENERATION_MB);
      };
      await store.checkpoint();
      expect(begins.at(-1)!.arrivalOrder).toBe(true);
      expect(dead).toBeDefined();
      await dead;
      expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
      expect(runFiles(directory).filter((name) => !name.endsWith('.run'))).toEqual([]);
      await expectModel(store, model);
      await store.close();
      expect(flushThreadsRunning()).toBe(0);
      await expectReopened(directory, model);
    }, 120_000);
  }
});

describe('a full disk or a failed fsync in the thread during an arrival-order flush', () => {
  it('ENOSPC: the checkpoint fails DiskFullError, no partial file, the flush is retried in arrival order and reads back exactly', async () => {
    const { store, directory, model } = await storeWithRound();
    const arrivalBefore = flushThreadCounters.arrivalOrderFlushes;
    flushThreadTestHooks.failNextFlush = { syscall: 'write', code: 'ENOSPC' };
    await expect(store.checkpoint()).rejects.toBeInstanceOf(DiskFullError);
    expect(begins.at(-1)!.arrivalOrder).toBe(true);
    expect(runFiles(directory).filter((name) => !name.endsWith('.run'))).toEqual([]);
    await expectModel(store, model);
    await store.checkpoint();
    expect(begins.at(-1)!.arrivalOrder).toBe(true);
    expect(flushThreadCounters.arrivalOrderFlushes - arrivalBefore).toBe(1);
    await expectModel(store, model);
    await store.close();
    await expectReopened(directory, model);
  }, 120_000);

  it('EIO at the fsync: final (IoError, writes refused), reopen has every acknowledged write', async () => {
    const { store, directory, model } = await storeWithRound();
    flushThreadTestHooks.failNextFlush = { syscall: 'datasync', code: 'EIO' };
    await expect(store.checkpoint()).rejects.toBeInstanceOf(IoError);
    expect(begins.at(-1)!.arrivalOrder).toBe(true);
    await expect(store.put('after', 1)).rejects.toThrow();
    store[abandonStore]();
    await expectReopened(directory, model);
  }, 120_000);
});

describe('close() during an arrival-order flush', () => {
  it('waits for the held flush, which completes; nothing is left running; reopen exact', async () => {
    const { store, directory, model } = await storeWithRound();
    flushThreadTestHooks.holdNextFlush = true;
    const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
    const checkpointing = store.checkpoint();
    await held;
    expect(begins.at(-1)!.arrivalOrder).toBe(true);
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    resumeHeldFlushes();
    await checkpointing;
    await closing;
    expect(flushThreadsRunning()).toBe(0);
    expect(runFiles(directory).filter((name) => !name.endsWith('.run'))).toEqual([]);
    await expectReopened(directory, model);
  }, 120_000);
});
