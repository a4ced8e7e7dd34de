/**
 * Memtable flushes in the store's flush thread (src/engine/flush-thread.ts,
 * flush-worker.ts, flush-chunks.ts; issues 7 and 12): the thread writes a run file
 * byte for byte the same as the in-process flush and sends back the same sealed
 * blocks; a store on the real file system flushes through it and reads back exactly,
 * also after a reopen; a thread ended under a flush makes the flusher write that
 * memtable in process (nothing acknowledged lost, no thread left); close during a
 * flush waits for it; errors come back as the same classes.
 *
 * No timing: flushes in flight are held by flushThreadTestHooks.holdNextFlush after
 * the thread's writer consumed the first chunk.
 */
import { Buffer } from 'node:buffer';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FLUSH_CHUNK_BYTES, FlushChunkPacker, unpackFlushChunk } from '../src/engine/flush-chunks.js';
import {
  FlushThread, flushThreadCounters, flushThreadsRunning, flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes, terminateFlushThreads,
} from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings, memtableEntries } from '../src/engine/flusher.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { DiskFullError, IoError, openStore, type Store } from '../src/index.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { RUN_TEMPORARY_SUFFIX, type SealedBlock, writeRun } from '../src/run/run-writer.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Keys per round: their values span several FLUSH_CHUNK_BYTES chunks. */
const KEYS = 4000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

beforeEach(() => {
  // This file's memtables are small: every flush goes through the thread.
  flushSettings.threadMinMemtableBytes = 0;
});

afterEach(() => {
  flushThreadTestHooks.failNextFlush = undefined;
  flushSettings.flushThread = 'worker';
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number): unknown => ({ index, round, text: 'flush thread '.repeat(8 + (index % 9)) });

/**
 * A memtable with every shape a flush meets: one version, several, tombstones,
 * chains trimmed by retention (NOT_RETAINED markers), binary keys with bytes above
 * 127, and two values larger than a chunk.
 */
function mixedMemtable(): MemoryIndex {
  const index = new MemoryIndex(2);
  let version = 0;
  for (let round = 0; round < 3; round++) {
    const operations: IndexOperation[] = [];
    for (let number = 0; number < 3000; number++) {
      if (round > 0 && number % 3 !== 0) continue;
      const deleted = round > 0 && number % 7 === 0;
      operations.push({ key: internalKey(key(number)), slot: deleted ? TOMBSTONE : prepareValue(value(number, round), 1 << 22).stored });
    }
    for (let number = 0; number < 300; number++) {
      const bytes = Uint8Array.of(0xff, number & 0xff, 0x80, number >> 8);
      operations.push({ key: internalKey(bytes), slot: prepareValue(Buffer.alloc(50 + number, number), 1 << 22).stored });
    }
    if (round === 0) {
      for (const name of ['large-a', 'large-b']) operations.push({ key: internalKey(name), slot: prepareValue(Buffer.alloc(FLUSH_CHUNK_BYTES + 1000, 7), 1 << 22).stored });
    }
    version++;
    index.apply(version, operations, version);
  }
  return index;
}

function copyBlock(block: SealedBlock): SealedBlock {
  return { ...block, bytes: Buffer.from(block.bytes) };
}

describe('flush chunks', () => {
  it('unpack gives back exactly the entries packed, across chunk boundaries', () => {
    const packed: RunEntry[] = [];
    const unpacked: RunEntry[] = [];
    const packer = new FlushChunkPacker();
    const take = (): void => void unpacked.push(...unpackFlushChunk(packer.take()));
    for (const entry of memtableEntries(mixedMemtable())) {
      const copy = { key: entry.key, version: entry.version, value: entry.value === undefined ? undefined : Uint8Array.from(entry.value) };
      packed.push(copy);
      if (!packer.add(entry)) {
        take();
        expect(packer.add(entry)).toBe(true);
      }
    }
    take();
    expect(unpacked.map((entry) => ({ ...entry, value: entry.value === undefined ? undefined : Uint8Array.from(entry.value) }))).toEqual(packed);
    expect(packed.some((entry) => entry.value === undefined)).toBe(true);
  });
});

describe('the flush thread writes exactly what the in-process flush writes', () => {
  it('same memtable, same run id and generation: identical file bytes, descriptor and sealed blocks', async () => {
    const hash = await loadHash64();
    const fileSystem = new NodeFileSystem();
    const index = mixedMemtable();
    const inProcess = temporaryDirectory();
    const threaded = temporaryDirectory();
    const blocksInProcess: SealedBlock[] = [];
    const expected = await writeRun({
      fileSystem, runsDirectory: inProcess, runId: 7, generation: 123456789, level: 0, hash, entries: memtableEntries(index),
      onBlockSealed: (block) => blocksInProcess.push(copyBlock(block)),
    });
    const thread = new FlushThread();
    const before = flushThreadCounters.threadFlushes;
    const outcome = await thread.flush({ runsDirectory: threaded, runId: 7, generation: 123456789, level: 0, keepDataBytes: 1 << 30 }, memtableEntries(index));
    expect(flushThreadCounters.threadFlushes - before).toBe(1);
    expect(outcome.descriptor).toEqual(expected);
    expect(expected.entryCount).toBeGreaterThan(4000);
    const name = expected.fileName;
    // The thread writes only the temporary file; the main side renames it (run-install.ts).
    expect(outcome.temporary).toBe(true);
    expect(readdirSync(threaded)).toEqual([name + RUN_TEMPORARY_SUFFIX]);
    await installTemporaryRun(fileSystem, threaded, 7);
    expect(readdirSync(threaded)).toEqual([name]);
    expect(readFileSync(join(threaded, name)).equals(readFileSync(join(inProcess, name)))).toBe(true);
    expect(outcome.blocks).toEqual(blocksInProcess);
    expect(outcome.blocks.filter((block) => block.kind === 'data').length).toBeGreaterThan(10);

    // With a data budget of 0 the thread keeps only the partitions; with -1 nothing.
    const partitionsOnly = await thread.flush({ runsDirectory: threaded, runId: 8, generation: 1, level: 0, keepDataBytes: 0 }, memtableEntries(index));
    expect(partitionsOnly.blocks.map((block) => block.kind)).toEqual(blocksInProcess.filter((block) => block.kind !== 'data').map((block) => block.kind));
    const none = await thread.flush({ runsDirectory: threaded, runId: 9, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(index));
    expect(none.blocks).toEqual([]);
    await thread.close();
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);

  it('an error in the thread comes back as the same class; the thread stays usable', async () => {
    const thread = new FlushThread();
    const missing = join(temporaryDirectory(), 'no-such-directory');
    const error = await thread.flush({ runsDirectory: missing, runId: 1, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(mixedMemtable())).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).code).toBe(new IoError('x').code);
    const directory = temporaryDirectory();
    const outcome = await thread.flush({ runsDirectory: directory, runId: 2, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(mixedMemtable()));
    expect(readdirSync(directory)).toEqual([outcome.descriptor.fileName + RUN_TEMPORARY_SUFFIX]);
    await thread.close();
  }, 60_000);
});

describe('a failure on the main side of a thread flush', () => {
  it('entries that throw mid-flush: the flush rejects with that error, the thread is ended, the next flush runs in a new one', async () => {
    const thread = new FlushThread();
    const directory = temporaryDirectory();
    const failure = new RangeError('the memtable walk failed');
    let count = 0;
    const inner = memtableEntries(mixedMemtable());
    const failing: Iterator<RunEntry> = {
      next: () => {
        if (++count === 5000) throw failure;
        return inner.next();
      },
    };
    await expect(thread.flush({ runsDirectory: directory, runId: 1, generation: 1, level: 0, keepDataBytes: -1 }, failing)).rejects.toBe(failure);
    const outcome = await thread.flush({ runsDirectory: directory, runId: 2, generation: 1, level: 0, keepDataBytes: -1 }, memtableEntries(mixedMemtable()));
    expect(outcome.descriptor.runId).toBe(2);
    await thread.close();
    // Until the failed flush's thread has exited too (its end is not awaited by the rejection):
    // not 1 s of polls, which a loaded machine's slow thread exit could outlast. A thread
    // that never ends fails the test by its timeout.
    while (flushThreadsRunning() > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);
});

describe('the flush thread and the process', () => {
  it('an idle flush thread does not keep the process alive (a store left open after a thread flush)', async () => {
    const directory = temporaryDirectory();
    const index = join(import.meta.dirname, '..', 'dist', 'src', 'index.js');
    const script = `
      import { openStore } from ${JSON.stringify(index)};
      import { flushThreadCounters } from ${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'src', 'engine', 'flush-thread.js'))};
      const store = await openStore(${JSON.stringify(directory)}, { memoryBudgetBytes: 32 * 1024 * 1024 });
      const text = 'x'.repeat(300);
      for (let start = 0; start < 12000; start += 1000) {
        await store.batch(Array.from({ length: 1000 }, (_, i) => ({ type: 'put', key: 'k' + (start + i), value: text })));
      }
      await store.checkpoint();
      console.log(JSON.stringify({ threadFlushes: flushThreadCounters.threadFlushes }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '--eval', script], { timeout: 60_000 });
    // The child exited by itself (execFile resolved) after flushing through the thread.
    expect((JSON.parse(stdout.trim()) as { threadFlushes: number }).threadFlushes).toBeGreaterThan(0);
  }, 90_000);
});

async function writeRound(store: Store, round: number): Promise<void> {
  for (let start = 0; start < KEYS; start += 500) {
    const operations = [];
    for (let index = start; index < start + 500; index++) {
      operations.push(round > 0 && index % 5 === round ? { type: 'del' as const, key: key(index) } : { type: 'put' as const, key: key(index), value: value(index, round) });
    }
    await store.batch(operations);
  }
}

async function readEverything(store: Store): Promise<unknown[]> {
  const everything: unknown[] = [];
  for (let index = 0; index < KEYS; index++) everything.push(await store.history(key(index)));
  for await (const entry of store.scan()) everything.push(entry);
  return everything;
}

/** The block cache's bytes after the first round's checkpoint (the flush's prepopulation). */
let prepopulatedInProcessBytes = 0;

/** What two rounds leave, read from a store that never flushed through a thread. */
async function expectedContents(): Promise<unknown[]> {
  flushSettings.flushThread = 'main';
  const store = await openStore(temporaryDirectory(), OPTIONS);
  await writeRound(store, 0);
  await store.checkpoint();
  prepopulatedInProcessBytes = store.stats().storage.blockCacheBytes;
  await writeRound(store, 1);
  const contents = await readEverything(store);
  await store.close();
  flushSettings.flushThread = 'worker';
  return contents;
}

describe('a store on the real file system flushes in its flush thread', () => {
  it('a small memtable is flushed in process until the thread runs (no thread start for a small store)', async () => {
    flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    const before = flushThreadCounters.threadFlushes;
    await store.batch(Array.from({ length: 500 }, (_, index) => ({ type: 'put' as const, key: key(index), value: value(index, 0) })));
    await store.checkpoint();
    await store.close();
    expect(flushThreadCounters.threadFlushes - before).toBe(0);
    expect(store.stats().storage.flushes).toBeGreaterThan(0);
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);

  it('checkpoints go through the thread; reads before and after a reopen are exact; no thread outlives the store', async () => {
    const expected = await expectedContents();
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    const before = flushThreadCounters.threadFlushes;
    await writeRound(store, 0);
    await store.checkpoint();
    // The blocks the thread sent back prepopulated the cache as an in-process flush does.
    expect(store.stats().storage.blockCacheBytes).toBe(prepopulatedInProcessBytes);
    expect(prepopulatedInProcessBytes).toBeGreaterThan(0);
    await writeRound(store, 1);
    await store.checkpoint();
    expect(flushThreadCounters.threadFlushes - before).toBeGreaterThanOrEqual(2);
    expect(flushThreadsRunning()).toBe(1);
    expect(store.stats().storage.runs).toBeGreaterThan(0);
    expect(await readEverything(store)).toEqual(expected);
    await store.close();
    expect(flushThreadsRunning()).toBe(0);
    const reopened = await openStore(directory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(expected);
    await reopened.close();
  }, 120_000);

  it('disk full in the thread: the checkpoint fails DiskFullError, no partial file, writes go on, the flush is retried and succeeds', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    await writeRound(store, 0);
    const written = await readEverything(store);
    const flushesBefore = flushThreadCounters.threadFlushes;
    flushThreadTestHooks.failNextFlush = { syscall: 'write', code: 'ENOSPC' };
    await expect(store.checkpoint()).rejects.toBeInstanceOf(DiskFullError);
    expect(flushThreadCounters.threadFlushes - flushesBefore).toBe(0);
    expect(readdirSync(join(directory, 'runs'))).toEqual([]);
    expect(await readEverything(store)).toEqual(written);
    await store.put('after-full', 1);
    const afterPut = await readEverything(store);
    await store.checkpoint();
    expect(flushThreadCounters.threadFlushes - flushesBefore).toBeGreaterThanOrEqual(1);
    expect(await readEverything(store)).toEqual(afterPut);
    await store.close();
    const reopened = await openStore(directory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(afterPut);
    expect(await reopened.get('after-full')).toBe(1);
    await reopened.close();
  }, 120_000);

  it('a failed fsync in the thread is final: the checkpoint fails IoError, writes are refused, reopen has every acknowledged write', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    await writeRound(store, 0);
    const written = await readEverything(store);
    flushThreadTestHooks.failNextFlush = { syscall: 'datasync', code: 'EIO' };
    await expect(store.checkpoint()).rejects.toBeInstanceOf(IoError);
    await expect(store.put('after-fsync', 1)).rejects.toThrow();
    await expect(store.checkpoint()).rejects.toThrow();
    expect(readdirSync(join(directory, 'runs'))).toEqual([]);
    store[abandonStore]();
    const reopened = await openStore(directory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(written);
    await reopened.close();
  }, 120_000);

  it('a thread terminated mid-flush: the memtable is written in process, nothing acknowledged lost, no orphan left', async () => {
    const expected = await expectedContents();
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    await writeRound(store, 0);
    await store.checkpoint();
    await writeRound(store, 1);
    const exitsBefore = flushThreadCounters.threadExits;
    flushThreadTestHooks.holdNextFlush = true;
    flushThreadTestHooks.onHeld = () => void terminateFlushThreads();
    await store.checkpoint();
    expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
    expect(flushThreadsRunning()).toBe(0);
    expect(await readEverything(store)).toEqual(expected);
    // Only the runs the manifest lists: the ended thread's temporary file was removed.
    expect(readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // The next flush starts a new thread.
    const flushesBefore = flushThreadCounters.threadFlushes;
    await store.put(key(0), 'after');
    await store.checkpoint();
    expect(flushThreadCounters.threadFlushes - flushesBefore).toBe(1);
    await store.close();
    const reopened = await openStore(directory, OPTIONS);
    expect(await reopened.get(key(0))).toBe('after');
    await reopened.close();
  }, 120_000);

  it('close during a thread flush waits for it: the run is installed, reopen reads exactly, no thread left', async () => {
    const expected = await expectedContents();
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    await writeRound(store, 0);
    await store.checkpoint();
    await writeRound(store, 1);
    const flushesBefore = flushThreadCounters.threadFlushes;
    flushThreadTestHooks.holdNextFlush = true;
    let closing: Promise<void> | undefined;
    const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
    const checkpointing = store.checkpoint();
    await held;
    closing = store.close();
    // The flush is still held in the thread: close cannot have finished.
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    resumeHeldFlushes();
    await checkpointing;
    await closing;
    expect(flushThreadCounters.threadFlushes - flushesBefore).toBe(1);
    expect(flushThreadsRunning()).toBe(0);
    const reopened = await openStore(directory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(expected);
    await reopened.close();
  }, 120_000);

  it('a store abandoned as a dead process during a thread flush: the thread ends, reopen has every acknowledged write', async () => {
    const expected = await expectedContents();
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    await writeRound(store, 0);
    await store.checkpoint();
    await writeRound(store, 1);
    flushThreadTestHooks.holdNextFlush = true;
    const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
    const checkpointing = store.checkpoint();
    checkpointing.catch(() => undefined);
    await held;
    const exitsBefore = flushThreadCounters.threadExits;
    store[abandonStore]();
    await expect(checkpointing).rejects.toThrow();
    expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
    expect(flushThreadsRunning()).toBe(0);
    const reopened = await openStore(directory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(expected);
    expect(readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    await reopened.close();
  }, 120_000);
});
