/**
 * Scrub: read and check every block of every live run, rebuild what parity can,
 * rewrite stale parity pages, and report where (docs/FORMAT.md, "Repair";
 * README, "Scrub").
 *
 * Paced by `bytesPerSecond` (sleeping between steps so the average stays at or
 * below it) and stopped by `signal` between steps (the report so far is returned
 * with `aborted: true`). A run that cannot even be opened (its footer or index is
 * beyond repair) is reported as unrecoverable and the scrub goes on with the next.
 * Runs open lazily: a run first opened by the scrub had its index and filter checked
 * (and repaired) by that open, and those repairs are in the report's `repaired` too;
 * a repair made by a read before the scrub is not (stats().storage.repairedBlocks).
 *
 * Invariants: one step is one block or one stripe's parity (or one WAL segment, or
 * the manifest's two copies), so a scrub holds at most one stripe, one segment or one
 * manifest in memory; with `repair: false` nothing is written.
 * Scope (scrubStore): every live run; then the manifest's two copies (a damaged copy
 * is rewritten, both copies as a new generation, by Manifest.scrub); then every sealed
 * WAL segment the manifest still needs (header and record checksums). WAL damage is
 * reported as unrecoverable with file and offset and never "repaired": dropping a
 * record would drop acknowledged commits (the active segment is the writer's, and is
 * checked by recovery at the next open).
 */
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorruptionError, InvalidOptionError, IoError, refuseOtherObjectKind } from '../errors.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { RunReader, RunScrubFinding } from '../run/run-reader.js';
import type { RepairEvent } from '../run/run-file.js';
import { KIND_NAMES } from '../run/run-scrub-target.js';
import { RUN_PAGE_BYTES } from '../run/run-format.js';
import { SCRUB_BYTES_PER_SECOND_DEFAULT } from '../limits.js';
import { assert } from '../util/assert.js';
import { footerReadFailure, isRepairableReadError } from './stripe-errors.js';
import type { FileSystem } from '../fs/file-system.js';
import type { ManifestScrubResult } from '../manifest/manifest.js';
import type { Hash64 } from '../wal/wal-format.js';
import { checkSealedSegment } from '../wal/wal-scan.js';
import { damagedKeyRange, type ScrubKeyRange } from './scrub-key-range.js';

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

export interface ScrubLocation extends Omit<RunScrubFinding, 'kind'> {
  /** A run block kind, or 'manifest' / 'wal' (then runId and stripe are -1 and logicalOffset is the file offset). */
  kind: RunScrubFinding['kind'] | 'manifest' | 'wal';
  runId: number;
  file: string;
  /** A damaged or unrecoverable run block: the keys it holds, from the run's index (scrub-key-range.ts). */
  keys?: ScrubKeyRange;
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
  /** The manifest's copies checked (undefined: not scrubbed, e.g. an aborted scrub). */
  manifest?: { copiesChecked: number; bytesChecked: number; rewritten: boolean };
  /** Sealed WAL segments and their records checked. */
  wal?: { segmentsChecked: number; recordsChecked: number; bytesChecked: number };
}

/** The manifest, as scrub needs it (src/manifest/manifest.ts). */
export interface ScrubbableManifest {
  scrub(repair: boolean): Promise<ManifestScrubResult>;
}

/** The WAL, as scrub needs it: where its segments are, and which are sealed now. */
export interface ScrubbableWal {
  fileSystem: FileSystem;
  directory: string;
  hash: Hash64;
  /** Segment numbers every record of which is acknowledged and still needed (from the manifest's WAL start, below the writer's). */
  sealedSegments(): Promise<number[]>;
}

export interface ScrubTargets {
  runs: readonly ScrubbableRun[];
  /** False once a run was replaced (compaction): its file may be gone, which is then no damage. */
  isLive?: (run: ScrubbableRun) => boolean;
  manifest?: ScrubbableManifest;
  wal?: ScrubbableWal;
}

/** What scrub needs of a live run (src/engine/run-set.ts RunHandle). */
export interface ScrubbableRun {
  readonly descriptor: RunDescriptor;
  reader(): RunReader | Promise<RunReader>;
  /** False while the run was never opened: then the scrub's reader() opens it (absent: taken as open). */
  readonly opened?: boolean;
  /** What that open repaired (the index and filter it checks), reported as the scrub's repairs when the scrub opened the run. */
  readonly openRepairs?: readonly RepairEvent[];
  /** Held for the whole scrub, so a compaction that replaces the run meanwhile does not close its reader under it. */
  acquire?(): void;
  release?(): void;
}

/** A file that is not there (raw ENOENT, or wrapped in an IoError). */
function isMissingFile(error: unknown): boolean {
  return (error instanceof IoError && error.errno === 'ENOENT') || (error as { code?: unknown } | undefined)?.code === 'ENOENT';
}

const SCRUB_OPTION_NAMES: readonly string[] = ['signal', 'bytesPerSecond', 'onProgress'];

/** store.scrub()'s options: an unknown name is refused (a typo such as bytesPerSec would run an unpaced scrub). */
export function checkScrubOptions(options: unknown): ScrubOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('scrub', 'options must be an object');
  refuseOtherObjectKind('store.scrub()', options);
  for (const name in options) {
    if (Object.prototype.hasOwnProperty.call(options, name) && !SCRUB_OPTION_NAMES.includes(name)) {
      throw new InvalidOptionError(name, `is not an option of store.scrub() (accepted: ${SCRUB_OPTION_NAMES.join(', ')})`);
    }
  }
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
  options: ScrubOptions & { repair?: boolean; isLive?: (run: ScrubbableRun) => boolean } = {},
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
    // Runs open lazily: a run this scrub opens is checked by the open first (index, filter), and what that repairs is this scrub's repair.
    const openedByScrub = run.opened === false;
    let reader: RunReader;
    try {
      reader = await openOnce(run);
      if (openedByScrub) report.repaired.push(...openRepairLocations(run));
    } catch (error) {
      if (options.isLive?.(run) === false) {
        // Compacted away since the scrub began (never opened, its file already unlinked, a
        // CorruptionError 'run file missing' from the reader): nothing to check.
        report.runs--;
        continue;
      }
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      if (openedByScrub) report.repaired.push(...openRepairLocations(run));
      // The path, as every other location gives it (a CorruptionError carries it; an I/O error of the footer's read is marked with it).
      const footerRead = footerReadFailure(error);
      const path = footerRead?.file ?? (error instanceof CorruptionError ? error.file : file);
      const keys: ScrubKeyRange = {
        known: false, reason: 'the run cannot be opened, so its index cannot be read',
        runFirst: new Uint8Array(Buffer.from(run.descriptor.smallestKey, 'latin1')), runLast: new Uint8Array(Buffer.from(run.descriptor.largestKey, 'latin1')),
      };
      // The damaged place: the footer page when the open failed there (its offset is the file's last page; an I/O
      // error of its read, which has no offset, is marked), else the index.
      const offset = footerRead?.offset ?? (error as CorruptionError).offset ?? 0;
      const kind = (error instanceof CorruptionError || footerRead !== undefined) && offset === run.descriptor.fileBytes - RUN_PAGE_BYTES ? 'footer' : 'index';
      report.unrecoverable.push({ runId: run.descriptor.runId, file: path, kind, logicalOffset: offset, stripe: -1, outcome: 'unrecoverable', reason: (error as Error).message, keys });
      continue;
    }
    const steps = reader.scrub(repair);
    const unrecoverableBefore = report.unrecoverable.length;
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
        const located: ScrubLocation = { runId: run.descriptor.runId, file: reader.path, ...finding };
        const keys = finding.outcome === 'repaired' ? undefined : await damagedKeyRange(reader, finding.kind, finding.logicalOffset);
        if (keys !== undefined) located.keys = keys;
        if (finding.outcome === 'repaired') report.repaired.push(located);
        else if (finding.outcome === 'unrecoverable') report.unrecoverable.push(located);
        else report.damaged.push(located);
      }
      await pace();
    }
    // Compacted away while it was scrubbed: a rebuilt block could not be written back (the
    // file is unlinked; the held reader still reads it) and what its stripe's step then found
    // is no damage of the store, whose entries the merge read, every block checked.
    if (options.isLive?.(run) === false) report.unrecoverable.splice(unrecoverableBefore);
    options.onProgress?.(runIndex + 1, runs.length);
  }
  report.durationMs = performance.now() - started;
  return report;
}

/**
 * The run's reader; an open that failed reading the footer with an I/O error (no parity
 * covers it) is tried once more, as a read tries it again: a one-off EIO is no damage,
 * and the scrub reported it unrecoverable. A second failure stands.
 */
async function openOnce(run: ScrubbableRun): Promise<RunReader> {
  try {
    return await run.reader();
  } catch (error) {
    if (error instanceof CorruptionError || footerReadFailure(error) === undefined) throw error;
    return await run.reader();
  }
}

/**
 * The repairs the open of `run` made, as scrub locations. Only those written back: a
 * block rebuilt but not rewritten is still bad on disk, and the scrub's own step finds
 * and reports it (rebuilt again, or REBUILT_NOT_REWRITTEN).
 */
function openRepairLocations(run: ScrubbableRun): ScrubLocation[] {
  return (run.openRepairs ?? []).filter((event) => event.rewritten).map((event) => ({
    runId: event.runId, file: event.file, kind: event.kind === 'parity' ? 'parity' : KIND_NAMES[event.kind] ?? 'index',
    logicalOffset: event.logicalOffset, stripe: event.stripes[0] ?? -1, outcome: 'repaired',
    reason: 'rebuilt from parity when the scrub opened the run (which checks its index and filter), and rewritten in place',
  }));
}

/**
 * The whole scrub: the runs (scrubRuns), then the manifest, then the sealed WAL
 * segments, one step each, paced and abortable like the runs.
 */
export async function scrubStore(targets: ScrubTargets, options: ScrubOptions & { repair?: boolean } = {}): Promise<ScrubReport> {
  const repair = options.repair ?? true;
  const started = performance.now();
  // Acquired in the same synchronous step as the list was taken: none is retired yet.
  for (const run of targets.runs) run.acquire?.();
  let report: ScrubReport;
  try {
    report = await scrubRuns(targets.runs, { ...options, isLive: targets.isLive });
  } finally {
    for (const run of targets.runs) run.release?.();
  }
  const pace = async () => {
    if (options.bytesPerSecond === undefined) return;
    const aheadMs = (report.bytesChecked / options.bytesPerSecond) * 1000 - (performance.now() - started);
    if (aheadMs > 0) await sleep(aheadMs, undefined, { signal: options.signal }).catch(() => undefined);
  };
  const stop = () => {
    report.aborted ||= options.signal?.aborted === true;
    return report.aborted;
  };
  if (targets.manifest !== undefined && !stop()) {
    const found = await targets.manifest.scrub(repair);
    report.manifest = { copiesChecked: found.copiesChecked, bytesChecked: found.bytesChecked, rewritten: found.repaired };
    report.blocksChecked += found.copiesChecked;
    report.bytesChecked += found.bytesChecked;
    for (const damage of found.damaged) {
      const outcome = found.repaired ? 'repaired' : repair ? 'unrecoverable' : 'damaged';
      const located: ScrubLocation = { runId: -1, file: damage.file, kind: 'manifest', logicalOffset: damage.offset, stripe: -1, outcome, reason: damage.reason };
      (outcome === 'repaired' ? report.repaired : outcome === 'unrecoverable' ? report.unrecoverable : report.damaged).push(located);
    }
    await pace();
  }
  if (targets.wal !== undefined && !stop()) {
    const wal = targets.wal;
    report.wal = { segmentsChecked: 0, recordsChecked: 0, bytesChecked: 0 };
    for (const segmentNumber of await wal.sealedSegments()) {
      if (stop()) break;
      let checked;
      try {
        checked = await checkSealedSegment(wal.fileSystem, wal.directory, segmentNumber, wal.hash);
      } catch (error) {
        // A checkpoint removed it meanwhile (its records are in runs now): nothing to check.
        if (isMissingFile(error)) continue;
        throw error;
      }
      report.wal.segmentsChecked++;
      report.wal.recordsChecked += checked.records;
      report.wal.bytesChecked += checked.bytes;
      report.blocksChecked += checked.records + 1;
      report.bytesChecked += checked.bytes;
      if (checked.problem !== undefined) {
        const after = checked.problem.validRecordsAfter ? '; valid records follow it' : '';
        report.unrecoverable.push({
          runId: -1, file: checked.path, kind: 'wal', logicalOffset: checked.problem.offset, stripe: -1, outcome: 'unrecoverable',
          reason: `${checked.problem.reason}${after}: acknowledged commits from here are unreadable (never dropped by scrub; a reopen refuses the WAL, and repair: true would keep only the prefix)`,
        });
      }
      await pace();
    }
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
