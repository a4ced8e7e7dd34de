/**
 * Review of the flush thread (issues 7 and 12), part 2: real SIGKILLs of a process
 * that flushes through its flush thread. The crash harness's workers never reach the
 * thread (their memtables stay under FLUSH_THREAD_MIN_MEMTABLE_BYTES and the test
 * hooks do not cross processes), so this child loads memtables of several MiB from
 * the built dist/ and reports each acknowledged batch and its count of thread
 * flushes; the parent kills it after a given number of thread flushes plus a few
 * batches (the kill lands wherever the child is: packing, in the thread's writes,
 * its datasync/rename/directory fsync, the manifest edit or the WAL deletion).
 *
 * After each kill: the store opens, every acknowledged batch's values are there (a
 * key holds its last acknowledged batch's value or a later one, never an older one),
 * no temporary run file is left, every run file on disk is one the manifest lists,
 * verifyStore finds nothing wrong.
 *
 * No timing thresholds: kills are triggered by what the child reports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

/** Keys 0..KEY_SPACE-1, written BATCH_KEYS at a time in GROUPS groups that batches take in turn. */
const BATCH_KEYS = 500;
const GROUPS = 12;
const KEY_SPACE = BATCH_KEYS * GROUPS;
const BUDGET_BYTES = 32 * 1024 * 1024;
/** The checking open's budget: its active memtable (1/8) holds the child's sealed and active memtables replayed. */
const CHECK_BUDGET_BYTES = 256 * 1024 * 1024;
/** Listings of runs/ (50 ms apart) while the checking store's own flush or merge may be writing. */
const QUIET_LISTING_ATTEMPTS = 200;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(removeTemporaryDirectories);

const key = (index: number): string => `k${String(index).padStart(6, '0')}`;

function childScript(directory: string, firstBatch: number): string {
  const dist = join(import.meta.dirname, '..', 'dist', 'src');
  return `
    import { openStore } from ${JSON.stringify(join(dist, 'index.js'))};
    import { flushThreadCounters } from ${JSON.stringify(join(dist, 'engine', 'flush-thread.js'))};
    const store = await openStore(${JSON.stringify(directory)}, { memoryBudgetBytes: ${BUDGET_BYTES} });
    const pad = 'p'.repeat(300);
    for (let batch = ${firstBatch}; ; batch++) {
      const group = batch % ${GROUPS};
      const operations = [];
      for (let i = 0; i < ${BATCH_KEYS}; i++) {
        const index = group * ${BATCH_KEYS} + i;
        operations.push({ type: 'put', key: 'k' + String(index).padStart(6, '0'), value: { batch, index, pad } });
      }
      await store.batch(operations);
      process.stdout.write(JSON.stringify({ batch, threadFlushes: flushThreadCounters.threadFlushes }) + '\\n');
    }
  `;
}

/** Runs the child until it has acknowledged `extraBatches` batches after its `threadFlushes`-th thread flush, then SIGKILLs it. */
async function runAndKill(directory: string, firstBatch: number, threadFlushes: number, extraBatches: number): Promise<{ lastAcknowledged: number; threadFlushesSeen: number }> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '--eval', childScript(directory, firstBatch)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let lastAcknowledged = -1;
  let threadFlushesSeen = 0;
  let reachedAt: number | undefined;
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const report = JSON.parse(line) as { batch: number; threadFlushes: number };
    lastAcknowledged = report.batch;
    threadFlushesSeen = report.threadFlushes;
    if (reachedAt === undefined && report.threadFlushes >= threadFlushes) reachedAt = report.batch;
    if (reachedAt !== undefined && report.batch >= reachedAt + extraBatches) {
      child.kill('SIGKILL');
      break;
    }
  }
  const code = await exited;
  if (reachedAt === undefined) throw new Error(`the child exited (${code}) before ${threadFlushes} thread flushes: ${stderr}`);
  return { lastAcknowledged, threadFlushesSeen };
}

/** Checks every key against the acknowledged batches: the newest acknowledged batch of its group (`newestByGroup`), or a later one of that group. */
async function expectAcknowledged(directory: string, newestByGroup: readonly number[], leftByKill: readonly string[]): Promise<void> {
  // The default budget, not the child's: the replay must not seal a memtable here. At the
  // child's budget the replayed log often filled a memtable, sealed at open, whose flush
  // was writing its temporary file while the directory was listed below (2 of 3 runs
  // failed so on the tree of 2026-12-01 13:15 UTC): the check is of what the kill left,
  // not of this store's work.
  const store = await openStore(directory, { memoryBudgetBytes: CHECK_BUDGET_BYTES });
  try {
    const problems: string[] = [];
    for (let index = 0; index < KEY_SPACE; index++) {
      const group = Math.floor(index / BATCH_KEYS);
      const newest = newestByGroup[group]!;
      const found = (await store.get(key(index))) as { batch: number; index: number } | undefined;
      if (found === undefined) {
        if (newest >= 0) problems.push(`${key(index)} missing (batch ${newest} acknowledged)`);
        continue;
      }
      if (found.index !== index || found.batch % GROUPS !== group || found.batch < newest) problems.push(`${key(index)} holds batch ${found.batch}, acknowledged ${newest}`);
    }
    expect(problems.slice(0, 5)).toEqual([]);
    // The temporaries the kill left were removed by this open.
    const removed = store.stats().recovery.removedOrphans.map((path) => basename(path));
    for (const name of leftByKill) expect(removed).toContain(name);
    // This store's own work may be writing a temporary run when runs/ is listed (a
    // memtable sealed by the replay, a background merge; its run id may even be the one
    // the killed child had left as a temporary, since that id was never recorded): wait
    // until a listing has no temporary and as many runs as the store lists. What the
    // kill left was removed before the open returned (checked above).
    let runsOnDisk = readdirSync(join(directory, 'runs'));
    for (let wait = 0; wait < QUIET_LISTING_ATTEMPTS; wait++) {
      if (!runsOnDisk.some((name) => !name.endsWith('.run')) && runsOnDisk.length === store.stats().lifetime.runs) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
      runsOnDisk = readdirSync(join(directory, 'runs'));
    }
    expect(runsOnDisk.filter((name) => !name.endsWith('.run'))).toEqual([]);
    expect(runsOnDisk.length).toBe(store.stats().lifetime.runs);
  } finally {
    await store.close();
  }
  const report = await verifyStore(directory);
  expect(report.corruption).toBeUndefined();
  expect(report.runs.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('SIGKILL of a process flushing through its flush thread', () => {
  it('kills after 1-3 thread flushes and 0-5 more batches: every acknowledged write survives, no temporary or unlisted run file, verify passes', async () => {
    const directory = temporaryDirectory();
    const newestByGroup = new Array<number>(GROUPS).fill(-1);
    const plan: Array<[number, number]> = [[1, 0], [1, 1], [2, 3], [1, 2], [3, 5], [2, 0]];
    let firstBatch = 0;
    let killsInsideRunWrites = 0;
    for (const [threadFlushes, extraBatches] of plan) {
      const { lastAcknowledged, threadFlushesSeen } = await runAndKill(directory, firstBatch, threadFlushes, extraBatches);
      expect(threadFlushesSeen).toBeGreaterThanOrEqual(threadFlushes);
      // What the kill left (reported, not asserted: where a kill lands is the machine's timing).
      const leftBehind = readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.tmp'));
      if (leftBehind.length > 0) killsInsideRunWrites++;
      // Batch numbers grow across children: the newest acknowledged batch of each group so far.
      for (let group = 0; group < GROUPS; group++) {
        const newest = lastAcknowledged - ((((lastAcknowledged - group) % GROUPS) + GROUPS) % GROUPS);
        if (newest >= firstBatch) newestByGroup[group] = newest;
      }
      await expectAcknowledged(directory, newestByGroup, leftBehind);
      // Past anything the killed child may have written unreported (its pipe may hold more lines than were read).
      firstBatch = lastAcknowledged + 10_000 - ((lastAcknowledged + 10_000) % GROUPS);
    }
    expect(newestByGroup.every((newest) => newest >= 0)).toBe(true);
    console.log(`kills that left a temporary run file (inside a thread's run write): ${killsInsideRunWrites} of ${plan.length}`);
  }, 400_000);
});
