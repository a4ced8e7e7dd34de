/**
 * A store's worker threads (flush thread, merge threads, the cold tier's compression
 * pool) ended at a seeded random moment of their life must neither abort nor hang the
 * process, and none may outlive its store. Node 20 aborted this suite's CI runs twice so
 * (a thread terminated inside a zlib stream's creation: src/util/zlib-gate.ts; inside a
 * synchronous require() of an ES module: src/run/compression-worker-entry.cts); this
 * guards every other moment the store ends a thread.
 *
 * test/support/churn-child.mjs (a child process: an abort takes its whole process) opens
 * a store copied from a template (a tier-1 run and tier-0 runs) with a 256 KiB budget,
 * writes (a flush every few batches, each through the flush thread) and compacts in a
 * loop (merge threads; the first compact() writes a cold, compressed run), and ends it
 * 0..150 ms after its open, in turn by: close(); close() with a compact() in flight; idle
 * ends of its threads (idleMs 0-3) then close(); abandonStore (a dead process) then a
 * reopen; close() of a store merging in process (cold blocks through the compression
 * pool); terminate() of a worker thread the store was opened in; two stores at once
 * (contending for the merge slots), one closed, one abandoned. After each cycle no flush,
 * merge or compression thread may be left; a cycle not ended in 30 s is a hang.
 *
 * Measured before this test was kept (2026-12-05, 53add5d's build, load 12-17 on 2 cores,
 * spreads 80 and 300 ms): 3,600 mixed cycles over 12 seeds (551 of each way of ending,
 * 294 pairs), 600 more of a terminated worker, 250 terminated while the worker's store had
 * a merge thread and 800 once it also had a cold run (its merge thread then compressing):
 * no abort, no hang, no unhandled rejection, no thread left. This test has not been seen
 * to fail on that build: it guards against a regression (a thread ended some new way
 * without the zlib gate, a task module loaded by require(), a close() that no longer ends
 * its threads; with the flush thread left running by abandon, 3 of its 28 cycles failed).
 * One hazard stays Node's (README, the caveat under "One process per directory"): a
 * user's worker terminated while a thread it started is inside a zlib call aborts the
 * process (a bare probe, a nested thread deflating in a loop: 3 of 3 runs of 200
 * terminations aborted); through the store it was not met in the 2,201 worker cycles
 * above, and the 4 here have not been seen to fail.
 * Needs the build (dist/): `npm test` builds first.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./support/churn-child.mjs', import.meta.url));

interface ChildResult { status: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs the child to its end (asynchronously: this process's event loop keeps turning). */
function runChild(mode: string, cycles: number, seed: number, spreadMs: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CHILD, mode, String(cycles), String(seed), String(spreadMs)], { encoding: 'utf8', timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (_error, stdout, stderr) => {
      resolve({ status: child.exitCode, signal: child.signalCode, stdout, stderr: stderr.slice(-3_000) });
    });
  });
}

describe('store threads ended at random moments of their life', () => {
  it('28 cycles (each way of ending 4 times): every cycle ends, the process lives, no thread is left', async () => {
    const result = await runChild('mix', 28, 20261205, 150);
    // An abort shows as signal SIGABRT (or a status and V8's fatal message in stderr), a hang as status 3.
    expect(result, result.stderr).toMatchObject({ status: 0, signal: null });
    expect(result.stdout.trim()).toBe('survived 28');
    const summary = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { byMode: Record<string, number>; unhandled: number; leaked: number; liveAtEnd: { merge: number } };
    expect(summary).toMatchObject({ unhandled: 0, leaked: 0 });
    expect(Object.values(summary.byMode)).toEqual([4, 4, 4, 4, 4, 4, 4]);
    // The ends met live threads: a merge thread was running at some of them.
    expect(summary.liveAtEnd.merge).toBeGreaterThan(0);
  }, 180_000);
});
