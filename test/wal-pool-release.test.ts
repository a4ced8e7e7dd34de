/**
 * compact() gives the WAL's spare disk space back (issue 7, compaction space): the
 * recycled pool (WAL format 2) is emptied and a next segment prepared ahead is removed,
 * under the wal.writer lock (WalWriter#releaseSpareSegments), then the directory fsynced.
 *
 * - After compact() no `recycled-*` file remains, and the store still commits,
 *   rotates (new segments, later pooled and recycled again) and reopens exactly.
 * - Forced interleavings: a background preparation taking a pool file is held while
 *   compact() runs (the release waits for it, then removes the prepared segment); a
 *   release held at its first unlink while a commit needs a rotation (the commit
 *   waits, then rotates into a new segment).
 * - A crash after every operation of compact() and a write after it, in each crash
 *   mode: the store reopens with exactly the data written, a pool file a lost
 *   directory fsync brings back is harmless, and the store writes on.
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem, isSimulatedCrash } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { scanAll } from './workload.js';

const STORE_DIRECTORY = '/db';
const WAL_DIRECTORY = '/db/wal';
const KIBIBYTE = 1024;
/** 64 KiB segments: every segment the size of a pool file, so a preparation takes one. */
const OPTIONS = { segmentSizeBytes: 64 * KIBIBYTE, memoryBudgetBytes: 4 * 1024 * KIBIBYTE, checkpointOnClose: false } as const;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function valueOf(index: number): string {
  return `value-${index}-${'x'.repeat(1500 + (index % 7) * 100)}`;
}

function keyOf(index: number): string {
  return `key-${String(index).padStart(5, '0')}`;
}

async function poolFiles(fileSystem: FileSystem): Promise<string[]> {
  return (await fileSystem.readdir(WAL_DIRECTORY)).filter((name) => name.startsWith('recycled-')).sort();
}

async function segmentNumbers(fileSystem: FileSystem): Promise<number[]> {
  return (await fileSystem.readdir(WAL_DIRECTORY)).filter((name) => name.startsWith('wal-')).map((name) => Number(name.slice(4, 14))).sort((a, b) => a - b);
}

/** The simulated crash, or an error it caused (a store failure wraps it in causes). */
function causedByCrash(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) if (isSimulatedCrash(cause)) return true;
  return false;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** Writes keys [from, to), checkpointing every `checkpointEvery` puts; records them in `expected`. */
async function writeKeys(store: Store, expected: Map<string, unknown>, from: number, to: number, checkpointEvery = 0): Promise<void> {
  for (let index = from; index < to; index++) {
    await store.put(keyOf(index), valueOf(index));
    expected.set(keyOf(index), valueOf(index));
    if (checkpointEvery > 0 && (index + 1) % checkpointEvery === 0) await store.checkpoint();
  }
}

/** A store whose pool holds files: 120 puts (about 4 segments) checkpointed every 40, some keys deleted. */
async function storeWithPool(fileSystem: FileSystem): Promise<{ store: Store; expected: Map<string, unknown> }> {
  const store = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS });
  const expected = new Map<string, unknown>();
  await writeKeys(store, expected, 0, 120, 40);
  for (let index = 0; index < 120; index += 3) {
    await store.delete(keyOf(index));
    expected.delete(keyOf(index));
  }
  await store.checkpoint();
  return { store, expected };
}

/** Holds `open(…, 'readWrite')` of pool files, or `unlink` of pool files, until released. */
class GatedPool implements FileSystem {
  #held: 'open' | 'unlink' | undefined;
  #gate: Promise<void> = Promise.resolve();
  #release: () => void = () => undefined;
  /** Calls waiting at the gate now. */
  waiting = 0;

  constructor(readonly inner: FileSystem) {}

  hold(operation: 'open' | 'unlink'): void {
    this.#held = operation;
    this.#gate = new Promise((resolve) => {
      this.#release = resolve;
    });
  }

  release(): void {
    this.#held = undefined;
    this.#release();
  }

  async #pass(operation: 'open' | 'unlink', path: string): Promise<void> {
    if (this.#held !== operation || !/\/recycled-\d+-\d+\.log$/.test(path)) return;
    this.waiting++;
    await this.#gate;
    this.waiting--;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (mode === 'readWrite') await this.#pass('open', path);
    return this.inner.open(path, mode);
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  link(existingPath: string, newPath: string): Promise<void> {
    return this.inner.link(existingPath, newPath);
  }

  async unlink(path: string): Promise<void> {
    await this.#pass('unlink', path);
    return this.inner.unlink(path);
  }

  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }

  syncDirectory(dir: string): Promise<void> {
    return this.inner.syncDirectory(dir);
  }
}

async function waitForGate(gated: GatedPool): Promise<void> {
  for (let turn = 0; turn < 2000 && gated.waiting === 0; turn++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(gated.waiting, 'an operation reached the gate').toBeGreaterThan(0);
}

async function expectReopensExactly(fileSystem: FileSystem, expected: Map<string, unknown>): Promise<void> {
  const reopened = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS });
  try {
    expect(await scanAll(reopened)).toEqual(expected);
  } finally {
    await reopened.close();
  }
}

describe('compact() empties the recycled WAL pool', () => {
  it('leaves no recycled-* file; the store commits, rotates, recycles again and reopens exactly', async () => {
    const fileSystem = new FaultFileSystem(1);
    const { store, expected } = await storeWithPool(fileSystem);
    expect((await poolFiles(fileSystem)).length, 'the workload fills the pool').toBeGreaterThan(0);
    await store.compact();
    expect(await poolFiles(fileSystem)).toEqual([]);
    // Only the active segment is left in wal/ (nothing prepared ahead).
    expect(await segmentNumbers(fileSystem)).toEqual([store.stats().walSegment]);
    const segmentBefore = store.stats().walSegment;
    await writeKeys(store, expected, 120, 200, 40);
    expect(store.stats().walSegment - segmentBefore, 'the writes after rotate').toBeGreaterThanOrEqual(2);
    expect((await poolFiles(fileSystem)).length, 'checkpoints pool segments again').toBeGreaterThan(0);
    await store.close();
    await expectReopensExactly(fileSystem.crash('drop-unsynced'), expected);
  });

  it('a crash after the release loses none of its durability: the unlinks were directory-fsynced', async () => {
    const fileSystem = new FaultFileSystem(2);
    const { store, expected } = await storeWithPool(fileSystem);
    await store.compact();
    store[abandonStore]();
    const rebooted = fileSystem.crash('drop-unsynced');
    expect(await poolFiles(rebooted)).toEqual([]);
    await expectReopensExactly(rebooted, expected);
  });
});

describe('compact() and rotation, forced interleavings', () => {
  it('a background preparation taking a pool file is waited for, then its segment removed unused', async () => {
    const gated = new GatedPool(new FaultFileSystem(3));
    const { store, expected } = await storeWithPool(gated);
    const poolBefore = await poolFiles(gated);
    expect(poolBefore.length).toBeGreaterThan(0);
    // Past half of the active 64 KiB segment the writer prepares the next one from the pool: held at its open.
    gated.hold('open');
    let index = 200;
    for (; index < 260 && gated.waiting === 0; index++) await writeKeys(store, expected, index, index + 1);
    await waitForGate(gated);
    const active = store.stats().walSegment;
    let settled = false;
    const compacting = store.compact().finally(() => {
      settled = true;
    });
    await turns(200);
    // The release waits behind the preparation: the file it is taking is still in the pool.
    expect(settled).toBe(false);
    expect(await poolFiles(gated)).toEqual(poolBefore);
    gated.release();
    await compacting;
    expect(await poolFiles(gated)).toEqual([]);
    expect(await segmentNumbers(gated)).toEqual([active]);
    // The writer goes on: its next rotation makes segment active + 1 new.
    await writeKeys(store, expected, index, index + 60, 30);
    expect(store.stats().walSegment).toBeGreaterThan(active);
    await store.close();
    await expectReopensExactly(gated.inner, expected);
  });

  it('a commit that needs a rotation while the release is held waits, then rotates into a new segment', async () => {
    const gated = new GatedPool(new FaultFileSystem(4));
    const { store, expected } = await storeWithPool(gated);
    expect((await poolFiles(gated)).length).toBeGreaterThan(0);
    // About 36 KB of records: a 40 KB commit then does not fit what is left of the active segment.
    await writeKeys(store, expected, 300, 320);
    gated.hold('unlink');
    const compacting = store.compact();
    await waitForGate(gated);
    const active = store.stats().walSegment;
    let putSettled = false;
    const big = 'y'.repeat(40 * KIBIBYTE);
    const put = store.put('big', big).finally(() => {
      putSettled = true;
    });
    expected.set('big', big);
    await turns(200);
    expect(putSettled, 'the commit waits for the release (the wal.writer lock)').toBe(false);
    expect(store.stats().walSegment).toBe(active);
    gated.release();
    await Promise.all([compacting, put]);
    expect(store.stats().walSegment).toBeGreaterThan(active);
    // The pool was emptied before the rotation looked for a file: every file in it now came later.
    expect(await poolFiles(gated)).toEqual([]);
    await store.close();
    await expectReopensExactly(gated.inner, expected);
  });
});

describe('a crash during compact() and its release, at every operation', () => {
  async function compactThenWrite(store: Store, expected: Map<string, unknown>, acknowledged: Map<string, unknown>): Promise<void> {
    await store.compact();
    // A put after the release that rotates: the new segment is made new (the pool is empty).
    const big = 'z'.repeat(40 * KIBIBYTE);
    await store.put('after', big);
    acknowledged.set('after', big);
    expected.set('after', big);
  }

  for (const [modeIndex, mode] of CRASH_MODES.entries()) {
    it(`${mode}: reopens with exactly the data written, and writes on`, async () => {
      const counter = new FaultFileSystem(10);
      const prelude = await storeWithPool(counter);
      const start = counter.operationCount;
      await compactThenWrite(prelude.store, new Map(prelude.expected), new Map());
      const operations = counter.operationCount - start;
      await prelude.store.close();
      expect(operations).toBeGreaterThan(5);
      const failures: string[] = [];
      for (let crashAfter = 0; crashAfter <= operations && failures.length < 5; crashAfter++) {
        const fileSystem = new FaultFileSystem(100 * (modeIndex + 1) + crashAfter);
        const { store, expected } = await storeWithPool(fileSystem);
        const acknowledged = new Map<string, unknown>();
        fileSystem.crashAfterOperations(crashAfter);
        await compactThenWrite(store, new Map(expected), acknowledged).catch((error: unknown) => {
          if (!causedByCrash(error)) throw error;
        });
        store[abandonStore]();
        const rebooted = fileSystem.crash(mode);
        try {
          const reopened = await openStore(STORE_DIRECTORY, { fileSystem: rebooted, ...OPTIONS });
          const found = await scanAll(reopened);
          const wanted = new Map(expected);
          // 'after' may or may not have reached disk unless it was acknowledged.
          if (found.has('after') || acknowledged.has('after')) wanted.set('after', 'z'.repeat(40 * KIBIBYTE));
          if (JSON.stringify([...found].sort()) !== JSON.stringify([...wanted].sort())) failures.push(`crash after ${crashAfter}: data differs (${found.size} keys, ${wanted.size} wanted)`);
          await reopened.put('later', 1);
          await reopened.put('later-big', 'w'.repeat(40 * KIBIBYTE));
          await reopened.close();
          const again = await openStore(STORE_DIRECTORY, { fileSystem: rebooted.crash('drop-unsynced'), ...OPTIONS });
          if ((await again.get('later')) !== 1 || (await again.get('later-big')) !== 'w'.repeat(40 * KIBIBYTE)) failures.push(`crash after ${crashAfter}: writes after recovery lost`);
          await again.close();
        } catch (error) {
          failures.push(`crash after ${crashAfter}: ${String(error)}`);
        }
      }
      expect(failures).toEqual([]);
    }, 600_000);
  }
});
