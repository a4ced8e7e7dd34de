/**
 * The whole storage stack at once, crashed: one seeded workload (soak-review-workload.ts)
 * flushes under the smallest memory budget, compacts (size-tiered and by retention floor)
 * into the cold tier, scrubs a damaged page back from parity, backs up, renews a lease with
 * fenced writes, feeds a watcher and holds a snapshot and a long scan while transactions
 * commit; the machine loses power after a sampled number of file-system operations, in
 * every crash mode, and the reopened store is checked against the model
 * (soak-review-checks.ts). SOAK_REVIEW_SEED and SOAK_REVIEW_SAMPLES widen a run by hand.
 */
import { describe, expect, it } from 'vitest';
import type { CrashMode } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { mulberry32 } from './support/seeded-random.js';
import { checkRecovered } from './soak-review-checks.js';
import { runSoak } from './soak-review-workload.js';

const SEED = Number(process.env.SOAK_REVIEW_SEED ?? 7);
const SAMPLES = Number(process.env.SOAK_REVIEW_SAMPLES ?? 1);
const ROUNDS = 24;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

describe('whole-stack soak under crashes', () => {
  it('every mechanism at once matches the model, and so does every power loss at sampled operations in every crash mode', async () => {
    const measured = await runSoak({ seed: SEED, rounds: ROUNDS });
    expect(measured.errors).toEqual([]);
    expect(measured.coldBytes, 'compaction reached the cold tier').toBeGreaterThan(0);
    expect(measured.model.delivered.length).toBeGreaterThan(0);
    expect(measured.model.scan, 'the long scan finished').toBeDefined();
    expect(measured.model.backups.size).toBeGreaterThan(0);
    expect(measured.model.floorRequested).toBeGreaterThan(0);
    expect(await checkRecovered(measured.fileSystem, measured.model)).toEqual([]);

    const total = measured.fileSystem.operationCount;
    const random = mulberry32(SEED * 31 + 1);
    const failures: string[] = [];
    for (let sample = 0; sample < SAMPLES; sample++) {
      // Half inside a checkpoint, compaction, scrub or backup (the first), half anywhere in the run.
      const window = measured.windows[Math.floor(random() * measured.windows.length)]!;
      const crashAfter = sample % 2 === 1 ? Math.floor(random() * total) : window.begin + Math.floor(random() * (window.end - window.begin + 1));
      for (const mode of MODES) {
        const run = await runSoak({ seed: SEED, rounds: ROUNDS, crashAfter });
        run.store?.[abandonStore]();
        const rebooted = run.fileSystem.crash(mode);
        const problems = [...run.errors, ...(await checkRecovered(rebooted, run.model))];
        if (problems.length > 0) failures.push(`crash after ${crashAfter} of ${total} operations (${mode}, ${sample % 2 === 1 ? 'anywhere' : `in ${window.name}`}): ${problems.slice(0, 5).join('\n  ')}`);
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
