/**
 * The title line of each checking command's report (`ladybug verify` of a store or of a
 * backup, `scrub`, and the WAL drop that `repair` and `repair --dry-run` name): one line
 * saying what was checked and what was found, printed above the report in text and
 * beside it in JSON (output.ts), so both forms say the same. repair's own title and
 * explanations are repair-report.ts.
 */
import type { BackupVerifyReport } from '../backup/restore-backup.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import type { VerifyReport } from '../store/verify-store.js';
import type { ScrubReport } from '../stripe/scrub.js';
import type { RepairReport } from '../wal/wal-recovery.js';

/** What was checked and what was found, in one line: runs, manifest copies and sealed WAL segments alike. */
export function scrubTitle(report: ScrubReport): string {
  const checked = [`${report.runs} runs`];
  if (report.manifest !== undefined) checked.push(`${report.manifest.copiesChecked} manifest copies`);
  if (report.wal !== undefined) checked.push(`${report.wal.segmentsChecked} sealed WAL segments`);
  const scope = `(${checked.join(', ')}${report.aborted ? ', aborted' : ''})`;
  if (report.unrecoverable.length > 0) {
    const where = [...new Set(report.unrecoverable.map((location) => location.kind === 'manifest' || location.kind === 'wal' ? location.kind : 'run'))];
    return `scrub: UNRECOVERABLE DAMAGE in ${where.join(', ')}: ${report.unrecoverable.length} ${scope}`;
  }
  return report.repaired.length > 0 ? `scrub: repaired ${report.repaired.length} ${scope}` : `scrub: ok ${scope}`;
}

/** What WAL repair drops (or would drop), in words: the commits and versions after the damage, and where. */
export function walDropText(drop: RepairReport): string {
  const versions = drop.droppedVersions === undefined ? '' : ` (versions ${drop.droppedVersions.first}-${drop.droppedVersions.last})`;
  const segments = drop.droppedSegments.length === 0 ? '' : ` and ${drop.droppedSegments.length} whole segments`;
  return `drop ${drop.droppedCommits} commits${versions}, ${drop.droppedRecords} records, ${drop.droppedBytes} bytes${segments}, from ${drop.file} at offset ${drop.offset} on`;
}

export function verifyTitle(report: VerifyReport): string {
  if (report.ok) return 'verify: ok';
  const drop = report.walRepairWouldDrop;
  return drop === undefined ? 'verify: CORRUPTION FOUND' : `verify: CORRUPTION FOUND; ladybug repair would ${walDropText(drop)}`;
}

/**
 * A restorable damaged backup names what restore would do: the run blocks it rebuilds
 * from parity (whose stripes' parity is then spent) and the manifest copies it writes
 * from their intact twin (no parity involved), whichever there are.
 */
export function backupVerifyTitle(report: BackupVerifyReport): string {
  if (report.ok) return 'verify backup: ok';
  if (report.restorable) {
    const blocks = report.rebuildable.length;
    const copies = report.problems.filter((problem) => problem.rebuildable && problem.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)).length;
    const actions = [
      ...(blocks > 0 ? [`rebuilds ${blocks} damaged blocks from parity`] : []),
      ...(copies > 0 ? [`writes ${copies} damaged manifest ${copies === 1 ? 'copy from its intact twin' : 'copies from their intact twins'}`] : []),
    ];
    return `verify backup: DAMAGED, RESTORABLE: restore ${actions.join(', ')} and restores the backup exactly; take a new backup`
      + (blocks > 0 ? ' (the parity of those stripes is used up)' : '');
  }
  return 'verify backup: CORRUPTION FOUND, NOT RESTORABLE: restore refuses this backup';
}
