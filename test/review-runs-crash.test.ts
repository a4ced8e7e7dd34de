/**
 * Review of runs and the manifest under crashes (the fault file system's four modes:
 * lost unsynced data and directory entries, a random subset of unsynced sectors, a torn
 * last write, a process kill), on the review store (test/review-runs-helpers.ts):
 * - a crash at every file-system operation of a compaction that merges every run into a
 *   packed cold run (run written, manifest edit appended to both copies, inputs
 *   unlinked): the store reopens with every read exact, history and as-of included
 *   (compaction-crash.test.ts sweeps uncompressed merges with one version per key);
 * - a crash at every operation of a scrub that rebuilds a damaged block from parity and
 *   writes the rebuilt page back in place (a torn page write leaves at worst one bad page
 *   in the stripe): the store reopens with every read exact, and a second scrub leaves
 *   verify clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { blockBytePages, buildStore, fileSystemOf, openAndRead, STORE, type BuiltStore } from './review-runs-helpers.js';

const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

/** Operations `work` makes on a fresh copy of the store (opened first, not counted). */
async function countOperations(prepare: (fileSystem: FaultFileSystem) => void, work: (fileSystem: FaultFileSystem) => Promise<void>): Promise<number> {
  const fileSystem = await fileSystemOf(built.image);
  prepare(fileSystem);
  const before = fileSystem.operationCount;
  await work(fileSystem);
  return fileSystem.operationCount - before;
}

async function crashSweep(prepare: (fileSystem: FaultFileSystem) => void, work: (fileSystem: FaultFileSystem) => Promise<void>, stride: number): Promise<number> {
  const total = await countOperations(prepare, work);
  let trials = 0;
  for (let operations = 0; operations <= total; operations += stride) {
    const mode = MODES[trials % MODES.length] as CrashMode;
    const fileSystem = await fileSystemOf(built.image);
    prepare(fileSystem);
    fileSystem.crashAfterOperations(operations);
    await work(fileSystem).catch(() => undefined);
    const rebooted = fileSystem.crash(mode);
    const outcome = await openAndRead(rebooted, built);
    expect(outcome, `crash after ${operations} of ${total} (${mode}): ${outcome.kind === 'wrong' ? outcome.message : outcome.kind === 'corruption' ? outcome.error.message : ''}`).toEqual({ kind: 'exact' });
    trials++;
  }
  return trials;
}

describe('crashes', () => {
  it('at every operation of a compaction into the cold tier: reopens with every read exact', async () => {
    const trials = await crashSweep(() => undefined, async (fileSystem) => {
      const store = await openStore(STORE, { fileSystem, checkpointOnClose: false });
      try {
        await store.compact();
      } finally {
        await store.close().catch(() => undefined);
        store[abandonStore](); // a crashed close leaves this process's hold on the lock: drop it as a dead process's
      }
    }, 1);
    expect(trials).toBeGreaterThan(20);
  });

  it('at every operation of a scrub rewriting a block rebuilt from parity: reopens exact, a second scrub leaves verify clean', async () => {
    const cold = built.runFiles.find((path) => built.tiers.get(path) !== 0) as string;
    const offsets = [...blockBytePages(built.image.get(cold) as Uint8Array).values()][0] as number[];
    const flip = (fileSystem: FaultFileSystem) => fileSystem.flipBit(cold, offsets[Math.floor(offsets.length / 2)] as number, 3);
    const scrub = async (fileSystem: FaultFileSystem) => {
      const store = await openStore(STORE, { fileSystem, checkpointOnClose: false });
      try {
        await store.scrub();
      } finally {
        await store.close().catch(() => undefined);
        store[abandonStore](); // a crashed close leaves this process's hold on the lock: drop it as a dead process's
      }
    };
    const trials = await crashSweep(flip, scrub, 1);
    expect(trials).toBeGreaterThan(10);
    // After a crash mid-rewrite, the next scrub finishes the repair.
    const total = await countOperations(flip, scrub);
    for (let operations = 0; operations <= total; operations++) {
      const fileSystem = await fileSystemOf(built.image);
      flip(fileSystem);
      fileSystem.crashAfterOperations(operations);
      await scrub(fileSystem).catch(() => undefined);
      const rebooted = fileSystem.crash('torn-last-write');
      await scrub(rebooted);
      expect((await verifyStore(STORE, { fileSystem: rebooted })).runs.problems, `after ${operations}`).toEqual([]);
    }
  });
});
