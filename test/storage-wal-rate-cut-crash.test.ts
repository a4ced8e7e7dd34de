/**
 * Crash sweep of a store whose seals cut the WAL into segments sized by the write rate
 * (aea0180) and take the segment prepared ahead, while the flushes of the sealed
 * memtables record the new WAL start in the manifest and remove (recycle) the covered
 * segments beside the commits, and outrun segments have their next begun at the rotation
 * (1bb19ce). test/storage-wal-cut-crash.test.ts runs the commit path's cuts with 16 KiB
 * segments, where every cut makes a first-size segment: no rate-sized segment, no
 * preparation at once. Here 4 writers put 3-4 KB values into a store with a 1 MiB budget
 * (memtables of about 85 KiB) and 512 KiB segments, so cuts make 128 KiB segments.
 *
 * A crash after sampled operations (every operation, each in one mode by turn): the store
 * reopens with every acknowledged put and, per writer, nothing past the one in flight,
 * no WAL segment below the manifest's WAL start, and it takes a write.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore } from '../src/store/open-store.js';
import type { StoreOptions } from '../src/store/options.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { turnTaker } from './helpers.js';

const STORE_DIR = '/db';
const WAL_DIR = '/db/wal';
const OPTIONS: StoreOptions = { memoryBudgetBytes: 1024 * 1024, segmentSizeBytes: 512 * 1024, checkpointOnClose: false };
const WRITERS = 4;
const PUTS_PER_WRITER = 40;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function keyOf(writer: number, index: number): string {
  return `w${writer}/k${String(index).padStart(3, '0')}`;
}

function valueOf(writer: number, index: number): Uint8Array {
  return new Uint8Array(3000 + ((writer * 131 + index * 17) % 1000)).fill((writer * 50 + index) % 251);
}

interface Run {
  store: Store | undefined;
  /** Per writer: puts acknowledged (a prefix of its plan), and whether the next was submitted. */
  acknowledged: number[];
  submitted: number[];
}

async function run(fileSystem: FaultFileSystem): Promise<Run> {
  const result: Run = { store: undefined, acknowledged: Array<number>(WRITERS).fill(0), submitted: Array<number>(WRITERS).fill(0) };
  try {
    result.store = await openStore(STORE_DIR, { fileSystem, ...OPTIONS });
  } catch {
    return result;
  }
  const store = result.store;
  await Promise.all(Array.from({ length: WRITERS }, async (_, writer) => {
    for (let index = 0; index < PUTS_PER_WRITER; index++) {
      result.submitted[writer] = index + 1;
      try {
        await store.put(keyOf(writer, index), valueOf(writer, index));
      } catch {
        return;
      }
      result.acknowledged[writer] = index + 1;
    }
  }));
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  return result;
}

async function walStart(fileSystem: FaultFileSystem): Promise<number> {
  const manifest = await Manifest.open(fileSystem, STORE_DIR, await loadHash64(), { create: false });
  const start = manifest.state.walStartSegment;
  await manifest.close();
  return start;
}

async function crashAndCheck(crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  fileSystem.crashAfterOperations(crashAfter);
  const before = await run(fileSystem);
  before.store?.[abandonStore]();
  const rebooted = fileSystem.crash(mode);
  let reopened: Store;
  try {
    reopened = await openStore(STORE_DIR, { fileSystem: rebooted, ...OPTIONS });
  } catch (error) {
    return [`reopen failed: ${String(error)}`];
  }
  const problems: string[] = [];
  for (let writer = 0; writer < WRITERS; writer++) {
    for (let index = 0; index < PUTS_PER_WRITER; index++) {
      const value = await reopened.get(keyOf(writer, index));
      if (index < before.acknowledged[writer]!) {
        if (value === undefined) problems.push(`${keyOf(writer, index)}: acknowledged, lost`);
      } else if (value !== undefined && index >= before.submitted[writer]!) {
        problems.push(`${keyOf(writer, index)}: never submitted, present`);
      }
      if (value !== undefined && Buffer.compare(Buffer.from(value as Uint8Array), Buffer.from(valueOf(writer, index))) !== 0) problems.push(`${keyOf(writer, index)}: wrong bytes`);
    }
  }
  try {
    await reopened.put('after-crash', crashAfter);
  } catch (error) {
    problems.push(`the reopened store refused a write: ${String(error)}`);
  }
  await reopened.close();
  const start = await walStart(rebooted);
  const below = (await rebooted.readdir(WAL_DIR)).filter((name) => Number(/^wal-(\d{10})\.log$/.exec(name)?.[1] ?? start) < start);
  if (below.length > 0) problems.push(`segments ${below.join(', ')} below the WAL start ${start}`);
  return problems;
}

describe('crash during rate-sized WAL cuts at memtable seals, flushes removing segments beside the commits', () => {
  it('the uncrashed workload cuts into segments larger than a first one and recycles the covered ones', async () => {
    const fileSystem = new FaultFileSystem(1);
    const result = await run(fileSystem);
    // The last flushes may still run (a busy machine): wait until no sealed memtable is left to flush.
    for (let poll = 0; poll < 6000 && result.store!.stats().storage.immutableMemtables > 0; poll++) await new Promise((resolve) => setTimeout(resolve, 5));
    const stats = result.store!.stats();
    expect(result.acknowledged).toEqual(Array<number>(WRITERS).fill(PUTS_PER_WRITER));
    expect(stats.storage.flushes).toBeGreaterThanOrEqual(3);
    const sizes = await Promise.all((await fileSystem.readdir(WAL_DIR)).map(async (name) => ({ name, bytes: (await fileSystem.readFile(`${WAL_DIR}/${name}`)).length })));
    expect(sizes.some(({ bytes }) => bytes > 64 * 1024), JSON.stringify(sizes)).toBe(true);
    expect(sizes.some(({ name }) => name.startsWith('recycled-')), JSON.stringify(sizes)).toBe(true);
    result.store![abandonStore]();
    expect(await crashAndCheck(1_000_000, 'drop-unsynced', 1)).toEqual([]);
  });

  it('every crash point (its mode by turn) reopens with every acknowledged put, nothing unsubmitted, and writes on', async () => {
    const counter = new FaultFileSystem(1);
    const result = await run(counter);
    const operations = counter.operationCount;
    result.store?.[abandonStore]();
    const failures: string[] = [];
    const takeTurn = turnTaker();
    for (let crashAfter = 0; crashAfter <= operations && failures.length < 8; crashAfter++) {
      const mode = CRASH_MODES[crashAfter % CRASH_MODES.length]!;
      for (const problem of await crashAndCheck(crashAfter, mode, 5000 + crashAfter)) failures.push(`crash after ${crashAfter} (${mode}): ${problem}`);
      await takeTurn();
    }
    expect(failures).toEqual([]);
  }, 900_000);
});
