/**
 * Scrub: read and check every block of every live run, rebuild what parity can,
 * rewrite stale parity pages, and report where (docs/FORMAT.md, "Repair";
 * README, "Scrub").
 *
 * Paced by `bytesPerSecond` (sleeping between steps so the average stays at or
 * below it) and stopped by `signal` between steps (the report so far is returned
 * with `aborted: true`). A run that cannot even be opened (its footer or index is
 * beyond repair) is reported as unrecoverable and the scrub goes on with the next.
 *
 * Invariants: one step is one block or one stripe's parity, so a scrub never holds
 * more than one stripe in memory; with `repair: false` nothing is written.
 * Scope: run files. The manifest (two copies) and the WAL are checked by
 * `ladybug verify` (src/store/verify-store.ts), not here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CorruptionError, InvalidOptionError } from '../errors.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { RunReader, RunScrubFinding } from '../run/run-reader.js';
import { SCRUB_BYTES_PER_SECOND_DEFAULT } from '../limits.js';
import { assert } from '../util/assert.js';
import { isRepairableReadError } from './stripe-errors.js';

/** Largest bytesPerSecond accepted (above it, pacing means nothing). */
export const SCRUB_BYTES_PER_SECOND_MAX = 64 * 1024 * 1024 * 1024;

assert(SCRUB_BYTES_PER_SECOND_DEFAULT <= SCRUB_BYTES_PER_SECOND_MAX, 'the background scrub rate is one scrub accepts');

export interface ScrubOptions {
  signal?: AbortSignal;
  /** Average read rate to stay under; unlimited when absent. */
  bytesPerSecond?: number;
  /** Called after each run (the CLI's progress bar). */
  onProgress?: (runsDone: number, runsTotal: number) => void;
}

export interface ScrubLocation extends RunScrubFinding {
  runId: number;
  file: string;
}

export interface ScrubReport {
  runs: number;
  /** Blocks and parity pages checked. */
  blocksChecked: number;
  bytesChecked: number;
  repaired: ScrubLocation[];
  unrecoverable: ScrubLocation[];
  /** Found damaged but left as is (verify mode, repair off). */
  damaged: ScrubLocation[];
  aborted: boolean;
  durationMs: number;
}

/** What scrub needs of a live run (src/engine/run-set.ts RunHandle). */
export interface ScrubbableRun {
  readonly descriptor: RunDescriptor;
  reader(): RunReader | Promise<RunReader>;
}

export function checkScrubOptions(options: unknown): ScrubOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('scrub', 'options must be an object');
  const { signal, bytesPerSecond, onProgress } = options as Record<string, unknown>;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidOptionError('onProgress', 'must be a function');
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal');
  if (bytesPerSecond !== undefined && (typeof bytesPerSecond !== 'number' || !(bytesPerSecond > 0) || bytesPerSecond > SCRUB_BYTES_PER_SECOND_MAX)) {
    throw new InvalidOptionError('bytesPerSecond', `must be a number in (0, ${SCRUB_BYTES_PER_SECOND_MAX}]`);
  }
  return {
    signal: signal as AbortSignal | undefined,
    bytesPerSecond: bytesPerSecond as number | undefined,
    onProgress: onProgress as ScrubOptions['onProgress'],
  };
}

export async function scrubRuns(
  runs: readonly ScrubbableRun[],
  options: ScrubOptions & { repair?: boolean } = {},
): Promise<ScrubReport> {
  const repair = options.repair ?? true;
  const started = performance.now();
  const report: ScrubReport = { runs: runs.length, blocksChecked: 0, bytesChecked: 0, repaired: [], unrecoverable: [], damaged: [], aborted: false, durationMs: 0 };
  const pace = async () => {
    if (options.bytesPerSecond === undefined) return;
    const aheadMs = (report.bytesChecked / options.bytesPerSecond) * 1000 - (performance.now() - started);
    if (aheadMs > 0) await sleep(aheadMs, undefined, { signal: options.signal }).catch(() => undefined);
  };
  for (let runIndex = 0; runIndex < runs.length && !report.aborted; runIndex++) {
    const run = runs[runIndex];
    assert(run !== undefined, 'run in range');
    const file = run.descriptor.fileName;
    let reader: RunReader;
    try {
      reader = await run.reader();
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      report.unrecoverable.push({ runId: run.descriptor.runId, file, kind: 'index', logicalOffset: (error as CorruptionError).offset ?? 0, stripe: -1, outcome: 'unrecoverable', reason: (error as Error).message });
      continue;
    }
    const steps = reader.scrub(repair);
    for (;;) {
      if (options.signal?.aborted === true) {
        report.aborted = true;
        await steps.return(undefined);
        break;
      }
      const next = await steps.next();
      if (next.done === true) break;
      const step = next.value;
      report.blocksChecked++;
      report.bytesChecked += step.bytes;
      for (const finding of step.findings) {
        const located = { runId: run.descriptor.runId, file: reader.path, ...finding };
        if (finding.outcome === 'repaired') report.repaired.push(located);
        else if (finding.outcome === 'unrecoverable') report.unrecoverable.push(located);
        else report.damaged.push(located);
      }
      await pace();
    }
    options.onProgress?.(runIndex + 1, runs.length);
  }
  report.durationMs = performance.now() - started;
  return report;
}

/** What every scrub since open found (stats().storage.scrub): store.scrub() calls and background passes. */
export interface ScrubStats {
  /** Passes begun (one under way is begun, not yet finished). */
  passesStarted: number;
  /** Passes finished (aborted ones included), and how many of them the background scrub ran. */
  passes: number;
  backgroundPasses: number;
  abortedPasses: number;
  /** Background passes that failed (an I/O error); each was also reported as a process warning. */
  failedPasses: number;
  blocksChecked: number;
  bytesChecked: number;
  repaired: number;
  unrecoverable: number;
  /** Date.now() when the last pass ended, undefined before the first. */
  lastPassEndedAtMs: number | undefined;
}

export class ScrubCounters {
  readonly #stats: ScrubStats = {
    passesStarted: 0, passes: 0, backgroundPasses: 0, abortedPasses: 0, failedPasses: 0, blocksChecked: 0, bytesChecked: 0,
    repaired: 0, unrecoverable: 0, lastPassEndedAtMs: undefined,
  };

  record(report: ScrubReport, background: boolean): void {
    assert(report.blocksChecked >= 0 && report.bytesChecked >= 0, 'scrub counts are non-negative');
    const stats = this.#stats;
    stats.passes++;
    if (background) stats.backgroundPasses++;
    if (report.aborted) stats.abortedPasses++;
    stats.blocksChecked += report.blocksChecked;
    stats.bytesChecked += report.bytesChecked;
    stats.repaired += report.repaired.length;
    stats.unrecoverable += report.unrecoverable.length;
    stats.lastPassEndedAtMs = Date.now();
  }

  started(): void {
    this.#stats.passesStarted++;
  }

  failed(): void {
    this.#stats.failedPasses++;
  }

  snapshot(): ScrubStats {
    return { ...this.#stats };
  }
}
