/**
 * Review of the merge thread: a merge that fails inside the thread comes back as the
 * same typed error (class, code, errno), is counted in `failures` with lastError, lifts
 * the write stall's backlog (writes go on with more runs than stallRunCount), leaves
 * the store usable, and the next merge after the cause is gone succeeds.
 *
 * The failure: an input's name becomes a symbolic link to itself after the main thread
 * opened its reader (so reads go on through that reader) and before the thread opens it
 * by path (ELOOP in the thread only; the in-process merge would not fail). Not a missing
 * file: a run the manifest lists whose file is gone is a CorruptionError, which the
 * thread's caller merges again in process, where the open reader succeeds.
 */
import { readdirSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { IoError, openStore, type Store } from '../src/index.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
const KEYS = 1500;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
  compactionTestHooks.onHorizon = undefined;
  removeTemporaryDirectories();
});

async function writeRound(store: Store, round: number): Promise<void> {
  const operations = [];
  for (let index = 0; index < KEYS; index++) operations.push({ type: 'put' as const, key: `key-${index}`, value: round });
  await store.batch(operations);
  await store.checkpoint();
}

describe('a merge that fails in the thread', () => {
  it('typed error, counted, the backlog stall lifts, the store stays usable, the next merge succeeds', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(store, round);
    const runsDirectory = join(directory, 'runs');
    const oldest = readdirSync(runsDirectory).sort()[0]!;
    for await (const _entry of store.scan()) break; // the main thread's reader of the oldest run is open
    expect(await store.get('key-1')).toBe(2);
    let hidden = false;
    compactionTestHooks.onHorizon = () => {
      if (hidden) return;
      hidden = true;
      renameSync(join(runsDirectory, oldest), join(runsDirectory, `${oldest}.away`));
      symlinkSync(oldest, join(runsDirectory, oldest));
    };
    // Writes stall while more than stallRunCount runs are live and the policy has a merge to do.
    compactionSettings.stallRunCount = 2;
    await writeRound(store, 3); // 4 runs: the policy's background merge starts in the thread, and fails
    await vi.waitFor(() => expect(store.stats().storage.compaction.failures).toBe(1), { timeout: 30_000, interval: 5 });
    expect(mergeThreadsRunning()).toBe(1);
    expect(store.stats().storage.compaction.lastError).toMatch(/ELOOP/);
    expect(store.stats().storage.runs).toBe(4);
    // Not backlogged after a failure: these writes are admitted although 4 > 2 runs are live.
    await writeRound(store, 4);
    expect(await store.get('key-7')).toBe(4);

    // compact() meets the same failure: the thread's IoError, with its code and errno.
    const error = await store.compact().then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(IoError);
    expect(error).toMatchObject({ code: 'LADYBUG_IO', errno: 'ELOOP' });
    expect((error as Error).message).toContain(oldest);
    expect(store.stats().storage.compaction.failures).toBeGreaterThanOrEqual(2);
    const files = readdirSync(runsDirectory);
    expect(files.filter((name) => name.endsWith('.tmp'))).toEqual([]);

    unlinkSync(join(runsDirectory, oldest));
    renameSync(join(runsDirectory, `${oldest}.away`), join(runsDirectory, oldest));
    const result = await store.compact();
    expect(result).toMatchObject({ outcome: 'compacted', runsOut: 1 });
    expect(readdirSync(runsDirectory)).toHaveLength(1);
    for (let index = 0; index < KEYS; index += 11) expect(await store.get(`key-${index}`)).toBe(4);
    expect(store.stats().storage.compaction.lastError).toMatch(/ELOOP/); // kept: the last error seen
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
  }, 120_000);
});
