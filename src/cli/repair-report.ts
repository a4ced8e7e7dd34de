/**
 * What `ladybug repair` says it did and what it would not do (issue 7: "repair
 * explains what it would drop").
 *
 * Repair has three parts: the WAL (open with repair keeps the valid prefix of a corrupt
 * log and reports the dropped suffix), the runs' blocks (a scrub rebuilds every damaged
 * block parity can rebuild and rewrites it in place) and the runs' reserved entry counts
 * (repair-reserved-counts.ts). A run block parity cannot rebuild is never dropped: the
 * entries it held may be the newest versions or tombstones of their keys, and without
 * them an older version from another run would answer (a deleted or overwritten value
 * coming back). Repair names such a block and exits 1; reads of the keys it holds fail
 * with CorruptionError until the store is restored from a backup.
 */
import type { ScrubLocation, ScrubReport } from '../stripe/scrub.js';
import type { ScrubKeyRange } from '../stripe/scrub-key-range.js';
import type { ReservedCountRepair } from '../store/repair-reserved-counts.js';
import type { VerifyReport } from '../store/verify-store.js';
import { keyJsonForm, type Output } from './output.js';
import { walDropText } from './report-titles.js';

/** Why an unrecoverable run block is kept, in the report beside it. */
export const UNRECOVERABLE_BLOCK_KEPT =
  'not rebuildable from parity and not dropped: its entries may be the newest versions or tombstones of their keys, and dropping them '
  + 'would let older versions from other runs answer; reads of its keys fail with CorruptionError (LADYBUG_CORRUPTION) until the store '
  + 'is restored from a backup';

export interface RepairFacts {
  droppedWal: boolean;
  /** Manifest records the open rewrote from the other copy (its recovery's manifest.repaired). */
  manifestRepaired: number;
  counts: ReservedCountRepair;
  leaseExpiries: number;
  scrub: ScrubReport;
}

/** A key as the CLI prints keys (ladybug dump --json): its string when its bytes are UTF-8, else {"$bytes": "<hex>"}; quoted as JSON. */
function keyText(key: Uint8Array): string {
  return JSON.stringify(keyJsonForm(key));
}

/** Which keys a damaged run block holds (the keys whose reads fail), from the run's index. */
export function keyRangeText(keys: ScrubKeyRange): string {
  if (!keys.known) return `its keys are unknown (${keys.reason}); the run holds keys ${keyText(keys.runFirst)} through ${keyText(keys.runLast)}`;
  const from = keys.after === undefined ? `from ${keyText(keys.first!)} (the run's first key)` : `after ${keyText(keys.after)}`;
  const older = keys.mayHoldAfter && keys.after !== undefined ? ` (and perhaps older versions of ${keyText(keys.after)}, whose versions may continue from the block before)` : '';
  return `it holds keys ${from} through ${keyText(keys.through)}${older}`;
}

/** One line per unrecoverable location: where, which keys, what, and why it is kept. */
export function unrecoverableExplanations(scrub: ScrubReport): string[] {
  return scrub.unrecoverable.map((location: ScrubLocation) => {
    if (location.kind === 'manifest' || location.kind === 'wal') return `${location.file} at offset ${location.logicalOffset}: ${location.reason}`;
    const where = `run ${location.runId} (${location.file}), ${location.kind} block at logical offset ${location.logicalOffset}`;
    const keys = location.keys === undefined ? '' : `; ${keyRangeText(location.keys)}`;
    return `${where}: ${location.reason}${keys}; ${UNRECOVERABLE_BLOCK_KEPT}`;
  });
}

/** The report's first line: every part that changed something or found what it cannot change. */
export function repairTitle(facts: RepairFacts): string {
  const { droppedWal, manifestRepaired, counts, leaseExpiries, scrub } = facts;
  const done: string[] = [];
  if (droppedWal) done.push('dropped a corrupt WAL suffix');
  if (manifestRepaired > 0) done.push(`repaired ${manifestRepaired} damaged manifest ${manifestRepaired === 1 ? 'record' : 'records'} from the other copy`);
  if (scrub.repaired.length > 0) done.push(`rebuilt ${scrub.repaired.length} damaged blocks from parity`);
  if (counts.mismatches.length > 0) {
    done.push(`wrong reserved entry count in ${counts.mismatches.length} of ${counts.checked} runs: rewrote ${counts.runsIn} runs into ${counts.runsOut}, `
      + `${leaseExpiries + counts.expiries} leases of earlier opens expired`);
  }
  if (counts.remaining.length > 0) done.push(`count STILL WRONG in ${counts.remaining.length} runs`);
  if (scrub.unrecoverable.length > 0) done.push(`UNRECOVERABLE DAMAGE in ${scrub.unrecoverable.length} places, kept as found (see unrecoverable)`);
  return done.length === 0 ? 'repair: nothing to repair' : `repair: ${done.join('; ')}`;
}

/**
 * `repair --dry-run`'s report, from verify's: what repair would drop from the WAL, and every
 * finding that makes verify's report not ok (a damaged run block or file; damage no crash explains
 * in a manifest copy), so a dry run that exits 1 says why.
 */
export function repairDryRunOutput(report: VerifyReport): Output {
  const drop = report.walRepairWouldDrop;
  const wal = drop !== undefined ? `would ${walDropText(drop)}`
    // Damage repair's open refuses too, in the WAL or in both manifest copies: as found (file, offset, why), not called the WAL's.
    : report.corruption !== undefined ? `repair refuses this damage: ${report.corruption.reason}; restore the store from a backup` : 'nothing to drop from the WAL';
  const runs = report.runs.problems.length === 0 ? '' : `; ${report.runs.problems.length} damaged run blocks or files (scrub rebuilds what parity can)`;
  const manifestProblems = report.manifest?.problems ?? [];
  const manifest = manifestProblems.length === 0 ? ''
    : `; ${manifestProblems.length} damaged manifest ${manifestProblems.length === 1 ? 'record' : 'records'} (repair's open rewrites a damaged copy from the other)`;
  return {
    title: `repair --dry-run: ${wal}${runs}${manifest}`,
    data: { walRepairWouldDrop: drop, corruption: report.corruption, runProblems: report.runs.problems, manifestProblems },
  };
}
