/**
 * verify (verifyStore, `ladybug verify`) under a one-off EIO on a run read after a run's
 * scrub pass: in its entry-count check (order across blocks, the filter, the footer's
 * counts), its reserved-entry recount, or the open of the next run. Such a read failure
 * made verify throw the IoError (no report: `ladybug verify` printed the error, and the
 * runs after it were never checked), or, for an index partition of the count check,
 * return silently with the counts never compared (ok: true). It is now a finding naming
 * the run file, the report says ok: false (the CLI exits 1) and every run is checked.
 *
 * The fault is armed when a run's scrub pass ends (RunScrubber#scrub, spied) and removed
 * when the next one starts, so it fires only in those phases, at its nth run read.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InjectedFault } from '../src/fs/fault-file-system.js';
import { RunScrubber } from '../src/run/run-scrub.js';
import { verifyStore } from '../src/store/verify-store.js';
import { buildStore, fileSystemOf, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);
afterEach(() => {
  vi.restoreAllMocks();
});

describe('verify: EIO after a run\'s scrub pass', () => {
  it('is a finding naming the run file, ok false, every run still checked', async () => {
    const clean = await verifyStore(STORE, { fileSystem: await fileSystemOf(built.image) });
    expect(clean.ok).toBe(true);
    expect(clean.runs.files).toBe(built.runFiles.length);
    const original = RunScrubber.prototype.scrub;
    let fired = 0;
    for (let run = 0; run < built.runFiles.length; run++) {
      for (let nth = 1; ; nth++) {
        const fileSystem = await fileSystemOf(built.image);
        let scrubs = 0;
        let fault: InjectedFault | undefined;
        vi.spyOn(RunScrubber.prototype, 'scrub').mockImplementation(async function* (this: RunScrubber, repair: boolean) {
          fault?.remove();
          const mine = scrubs++ === run;
          yield* original.call(this, repair);
          if (mine) fault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: /\.run$/, nth });
        });
        const where = `after the scrub of run ${run}, read ${nth}`;
        const report = await verifyStore(STORE, { fileSystem }).catch((error: unknown) => {
          throw new Error(`${where}: verify threw ${String(error)}`);
        });
        vi.restoreAllMocks();
        if (fault === undefined || fault.triggeredCount === 0) break;
        fired++;
        expect(report.ok, where).toBe(false);
        expect(report.runs.files, where).toBe(built.runFiles.length);
        expect(report.runs.problems.length, where).toBeGreaterThan(0);
        const files = new Set(report.runs.problems.map((problem) => problem.file));
        expect(files.size, where).toBe(1);
        const [file] = files;
        expect(built.runFiles, where).toContain(file);
        for (const problem of report.runs.problems) expect(problem.reason, where).toContain('EIO');
      }
    }
    expect(fired).toBeGreaterThan(10);
  }, 120_000);
});
