/**
 * The 4 KiB-value path end to end under crashes: byte values carved from the commit
 * path's 64 KiB slabs (bb389c5), flushed through a block builder that keeps its grown
 * buffer (3e54aec) into stripes whose parity is XORed through one view (696da74) by
 * synchronous appends (4bcd0b7), and replayed from WAL segments read without a copy
 * (e380df2) by the rewritten record checks (b8ce846, 0b7cf2a). A 256 KiB budget makes
 * the workload's ~370 KB of values flushes and WAL rotations; puts go eight at a time
 * (group commits of several records). A crash at 60 points spread over the workload's
 * ~570 file-system operations (each mode at other offsets, together every 2nd or 3rd),
 * in every crash mode: the reopened store holds every acknowledged put exact, a put in
 * flight whole or not at all, nothing never written, and takes a write after. (Its
 * first runs found the write stall's compaction loop, review3-stall-admit-livelock.)
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';

const STORE = '/db';
const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024 } as const;
const PUTS = 72;
/** Crash points per mode, spread evenly over the workload's operations (each mode at other offsets). */
const POINTS_PER_MODE = 60;
const SIZES = [4096, 4096, 4000, 8190, 100, 4096, 9000, 4093];

const keyOf = (index: number): string => `key-${String(index).padStart(4, '0')}`;

function valueOf(index: number): Uint8Array {
  const bytes = new Uint8Array(SIZES[index % SIZES.length]!);
  for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = (offset * 13 + index * 29) & 0xff;
  bytes[0] = index & 0xff;
  bytes[1] = index >> 8;
  return bytes;
}

interface Outcome {
  acknowledged: Set<number>;
  attempted: Set<number>;
}

async function workload(fileSystem: FaultFileSystem, crashAfter: number | undefined): Promise<Outcome> {
  const outcome: Outcome = { acknowledged: new Set(), attempted: new Set() };
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  let store: Store | undefined;
  try {
    store = await openStore(STORE, { fileSystem, ...OPTIONS });
    for (let first = 0; first < PUTS; first += 8) {
      const group: Array<Promise<void>> = [];
      for (let index = first; index < first + 8; index++) {
        outcome.attempted.add(index);
        const value = valueOf(index);
        group.push(store.put(keyOf(index), value).then(() => void outcome.acknowledged.add(index)));
        value.fill(0xee); // the caller's array is its own again once put() returns
      }
      const settled = await Promise.allSettled(group);
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    await store.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
    store?.[abandonStore]();
  }
  return outcome;
}

function same(value: unknown, index: number): boolean {
  return value instanceof Uint8Array && Buffer.from(value).equals(Buffer.from(valueOf(index)));
}

async function crashAndCheck(crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await workload(fileSystem, crashAfter);
  const rebooted = fileSystem.crash(mode);
  let store: Store;
  try {
    store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
  } catch (error) {
    return [`reopen failed: ${String(error)}`];
  }
  const problems: string[] = [];
  try {
    let found = 0;
    for await (const [key, value] of store.scan()) {
      const index = Number(String(key).slice(4));
      if (!outcome.attempted.has(index) || !same(value, index)) problems.push(`${String(key)} recovered, never written so`);
      found++;
    }
    for (const index of outcome.acknowledged) {
      if (!same(await store.get(keyOf(index)), index)) problems.push(`acknowledged ${keyOf(index)} lost or wrong`);
    }
    expect(found).toBeGreaterThanOrEqual(outcome.acknowledged.size);
    await store.put('after', valueOf(7));
    if (!same(await store.get('after'), 7)) problems.push('the write after reopen is not read');
  } finally {
    await store.close();
  }
  return problems;
}

describe('4 KiB byte values: a crash at points spread over the workload', () => {
  const modes: readonly CrashMode[] = ['drop-unsynced', 'keep-all', 'torn-last-write', 'random-subset'];
  for (const [modeIndex, mode] of modes.entries()) {
    it(`${mode}: every acknowledged put reopened exact, an in-flight one whole or absent, nothing invented`, async () => {
      const clean = new FaultFileSystem(1);
      const cleanRun = await workload(clean, undefined);
      expect(cleanRun.acknowledged.size).toBe(PUTS);
      const operations = clean.operationCount;
      expect(operations).toBeGreaterThan(200);
      const stride = Math.ceil(operations / POINTS_PER_MODE);
      const failures: string[] = [];
      for (let crashAfter = Math.floor((modeIndex * stride) / modes.length); crashAfter <= operations && failures.length < 10; crashAfter += stride) {
        for (const problem of await crashAndCheck(crashAfter, mode, 700 * (modeIndex + 1) + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
      }
      expect(failures).toEqual([]);
    }, 180_000);
  }
});
