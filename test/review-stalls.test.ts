/**
 * Adversarial review of the two write-stall causes added today:
 * - commits admitted but not yet applied (5ca8c4a, src/commit/unapplied-commits.ts):
 *   every path that ends a commit must leave the count AND wake the writers stalled
 *   on it, or they wait forever;
 * - the compaction backlog (85c1a32, cb99e97, src/compaction/compactor.ts): writers
 *   must not wait forever when compaction cannot make progress.
 * No timing: "still waiting" / "settled" is checked after a bounded number of
 * event-loop turns, and held I/O comes from gated file systems.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle, type FileSystem } from '../src/fs/file-system.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { ForwardingFileSystem, GatedFileSystem } from './support/file-system-wrappers.js';
import { settled } from './helpers.js';

const DIRECTORY = '/db';
const BUDGET_BYTES = 1024 * 1024;
const LARGE_BATCH_KEYS = 3000;
const STALL_RUNS = 6;
/** Merges during which a reader takes a pin (the livelock test). */
const MERGES_WITH_READERS = 50;

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};


function largeBatch(tag: string): Array<{ type: 'put'; key: string; value: string }> {
  const operations = [];
  for (let index = 0; index < LARGE_BATCH_KEYS; index++) {
    operations.push({ type: 'put' as const, key: `${tag}/${String(index).padStart(5, '0')}`, value: `${tag} ${index} `.padEnd(120, 'v') });
  }
  return operations;
}

/** Flushes `count` runs of one key each (checkpoint does not pass the write stall). */
async function makeRuns(store: Store, count: number, tag: string): Promise<void> {
  for (let run = 0; run < count; run++) {
    await store.put(`${tag}-${run}`, run);
    await store.checkpoint();
  }
}

describe('unapplied-bytes stall: every end of a commit wakes the writers behind it', () => {
  it('a failed fdatasync of an oversized batch settles the writer stalled behind it (store failed, no hang)', async () => {
    const fileSystem = new GatedFileSystem(new FaultFileSystem(31));
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
    fileSystem.armed = true;
    const big = settled(store.batch(largeBatch('big')));
    const held = await fileSystem.nextHeld();
    const small = settled(store.put('after', 1));
    await turns(20);
    expect(small.done, 'the small write waits behind the unapplied batch').toBe(false);
    expect(store.stats().storage.writeStalls).toBe(1);

    fileSystem.armed = false;
    held.fail(fileSystemError('EIO', 'fdatasync', held.path));
    await turns(20);
    expect(big.done).toBe(true);
    expect(big.error).toMatchObject({ code: 'LADYBUG_COMMIT_OUTCOME_UNKNOWN' });
    // Was: the count fell to 0 but nobody told the engine, so the stalled writer slept forever.
    expect(small.done, 'the stalled writer is woken once the batch left the count').toBe(true);
    expect(small.error).toMatchObject({ code: 'LADYBUG_STORE_FAILED' });
    await store.close().catch(() => undefined);
  });

  it('close during an unapplied-bytes stall: the batch is acknowledged, the stalled writer gets StoreClosedError', async () => {
    const fileSystem = new GatedFileSystem(new FaultFileSystem(36));
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
    fileSystem.armed = true;
    const big = settled(store.batch(largeBatch('big')));
    const held = await fileSystem.nextHeld();
    const small = settled(store.put('after', 1));
    await turns(20);
    expect(small.done).toBe(false);
    const closed = store.close();
    await turns(5);
    fileSystem.armed = false;
    held.release();
    await closed;
    await turns(20);
    expect(big.done && big.error === undefined, 'the batch was acknowledged').toBe(true);
    expect(small.done).toBe(true);
    expect(small.error).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
  });

  it('a transaction that loses its conflict check after admission leaves nothing counted', async () => {
    const store = await openStore(DIRECTORY, { fileSystem: new FaultFileSystem(32), memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
    await store.put('k', 0);
    const losing = store.transaction(async (transaction) => {
      await transaction.get('k');
      await store.put('k', 1); // commits between this transaction's read and its commit
      transaction.put('k', 2);
    }, { retries: 0 });
    await expect(losing).rejects.toMatchObject({ code: 'LADYBUG_CONFLICT' });
    // A count left too high would stall these two (the batch alone is over the share).
    const [next, after] = await Promise.all([store.batch(largeBatch('next')), store.put('after', 1)]);
    expect(after.version).toBe(next.version + 1);
    await store.close();
  });
});

/**
 * Forwards everything; `onRunUnlink` is called when a run file is unlinked (the
 * compactor unlinks an aborted compaction's output before it ends the compaction).
 */
class RunUnlinkHookFileSystem extends ForwardingFileSystem {
  onRunUnlink: (() => void) | undefined;

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  override async unlink(path: string): Promise<void> {
    if (/runs\//.test(path)) this.onRunUnlink?.();
    return this.inner.unlink(path);
  }
}

describe('compaction backlog stall: writers are never held forever', () => {
  it('short reads overlapping every merge do not abort compaction forever (a fresh pin needs nothing dropped)', async () => {
    compactionSettings.stallRunCount = STALL_RUNS;
    const fileSystem = new RunUnlinkHookFileSystem(new FaultFileSystem(33) as FileSystem);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
    // A reader starts a short scan (a pin at the current version) during every merge,
    // and ends it right after the merge: no pin when the next merge reads its horizon.
    let reads = 0;
    let open: { release(): void } | undefined;
    const endRead = (): void => {
      open?.release();
      open = undefined;
    };
    fileSystem.onRunUnlink = endRead;
    compactionTestHooks.onHorizon = async () => {
      reads++;
      endRead();
      // Bounded, so the old code fails instead of spinning forever (its merges, aborts and
      // retries then ran in microtasks only: the event loop itself starved).
      if (reads <= MERGES_WITH_READERS) open = await store.snapshot();
    };
    await makeRuns(store, 7, 'a');
    const write = settled(store.put('stalled', 1));
    for (let turn = 0; turn < 200 && !write.done; turn++) await turns(1);
    compactionTestHooks.onHorizon = undefined;
    const aborted = store.stats().storage.compaction.aborted;
    endRead();
    // Was: each merge's horizon was Infinity (no pin), the fresh pin below it aborted the
    // merge, the next merge started with no pin again: the write never went through.
    expect(write.done, `the stalled write goes through (${reads} merges, ${aborted} aborted)`).toBe(true);
    expect(write.error).toBeUndefined();
    expect(aborted).toBe(0);
    expect(await store.get('stalled')).toBe(1);
    for (let run = 0; run < 7; run++) expect(await store.get(`a-${run}`)).toBe(run);
    await store.close();
  });

  // Since close() cancels a running compaction (test/compaction-cancel.test.ts), the
  // backlog stall lifts and the stalled write goes through before close drains the
  // pipeline: it is acknowledged, and durable. (It used to be refused with StoreClosedError.)
  it('close during a compaction stall settles the stalled writer (acknowledged and durable, no hang)', async () => {
    compactionSettings.stallRunCount = STALL_RUNS;
    const fileSystem = new FaultFileSystem(34);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    compactionTestHooks.onHorizon = () => gate;
    await makeRuns(store, 7, 'a');
    const write = settled(store.put('stalled', 1));
    await turns(20);
    expect(write.done).toBe(false);
    const closed = store.close();
    await turns(5);
    release();
    await closed;
    await turns(20);
    expect(write.done).toBe(true);
    expect(write.error).toBeUndefined();
    compactionTestHooks.onHorizon = undefined;
    const reopened = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024 });
    try {
      expect(await reopened.get('stalled')).toBe(1);
    } finally {
      await reopened.close();
    }
  });
});
