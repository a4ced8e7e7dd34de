/**
 * A scrub racing compaction: the runs it scrubs are held (acquire/release) for the
 * whole scrub, so a replaced run's reader is not closed under it; a run replaced and
 * unlinked before its reader was ever opened is skipped, not an error, while a live
 * run whose file is missing still fails the scrub.
 */
import { describe, expect, it } from 'vitest';
import { IoError } from '../src/errors.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { scrubStore, type ScrubbableRun } from '../src/stripe/scrub.js';

function missingRun(runId: number): ScrubbableRun & { held: number; acquired: number } {
  const run = {
    held: 0,
    acquired: 0,
    descriptor: { runId, fileName: `${runId}.run` } as RunDescriptor,
    reader: () => Promise.reject(new IoError(`opening run ${runId}.run failed: ENOENT`, { errno: 'ENOENT' })),
    acquire: () => {
      run.held++;
      run.acquired++;
    },
    release: () => {
      run.held--;
    },
  };
  return run;
}

describe('scrub and replaced runs', () => {
  it('skips a run replaced (and unlinked) since the scrub began, holding every run for the whole scrub', async () => {
    const runs = [missingRun(7), missingRun(8)];
    const report = await scrubStore({ runs, isLive: () => false });
    expect(report.runs).toBe(0);
    expect(report.unrecoverable).toEqual([]);
    expect(runs.map((run) => [run.acquired, run.held])).toEqual([[1, 0], [1, 0]]);
  });

  it('a live run whose file is missing still fails the scrub, and its hold is released', async () => {
    const run = missingRun(9);
    await expect(scrubStore({ runs: [run], isLive: () => true })).rejects.toMatchObject({ code: 'LADYBUG_IO', errno: 'ENOENT' });
    expect(run.held).toBe(0);
  });
});
