/**
 * Verifying a backup made by take-backup.ts, without writing anything.
 *
 *   BACKUP.json present and intact, then every listed file present with its size
 *   and chunked checksum; a run file whose checksum differs is then rebuilt from
 *   parity in memory, exactly as restore would (repair-backup-run.ts), to say
 *   whether restore recovers it byte for byte or refuses it; a damaged or missing
 *   manifest copy is rebuildable when the other copy, certified with the same size
 *   and checksum, is intact (restore writes it from that one).
 *
 * The report says both facts an operator needs: `ok` (no damage at all) and
 * `restorable` (restore would succeed and restore exactly what the backup certified:
 * no damage, or only run damage parity rebuilds). A restorable damaged backup is
 * still damaged: its parity has been spent on that damage, so more of it may not be
 * rebuildable; take a new backup.
 *
 * Invariants: nothing is written to the backup or anywhere else (the rebuild's writes
 * go to pages held in memory, repair-backup-run.ts); a missing or damaged BACKUP.json
 * is a problem in the report, not a throw.
 */
import { BackupError, CorruptionError } from '../errors.js';
import { isFileSystemError, joinPath, type FileSystem } from '../fs/file-system.js';
import { loadHash64 } from '../codec/checksum.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { Hash64 } from '../wal/wal-format.js';
import { readBackupManifest, readChunks, type BackupBody, type BackupFile } from './backup-manifest.js';
import { backupRunDescriptors, rebuildBackupRun, type RestoreRepair } from './repair-backup-run.js';
import type { BackupProgress } from './take-backup.js';

/** The reason checkFile gives a file whose bytes differ from BACKUP.json's checksum (size right). */
export const CHECKSUM_MISMATCH = 'checksum mismatch';
/** How checkFile's reason for a file whose read failed (EIO; any error for a manifest copy) begins. */
const UNREADABLE = 'unreadable';

/** True for a problem checkFile found with a run that its parity may rebuild: wrong bytes, or a read that failed with EIO. */
export function runDamage(file: BackupFile, problem: string | undefined): boolean {
  return problem !== undefined && file.path.startsWith(`${RUNS_DIRECTORY}/`) && (problem === CHECKSUM_MISMATCH || problem.startsWith(UNREADABLE));
}

export interface BackupVerifyProblem {
  path: string;
  reason: string;
  /** True for a run whose damage restore rebuilds from parity, exactly; false for anything restore refuses. */
  rebuildable: boolean;
}

export interface BackupVerifyReport {
  /** No damage at all. */
  ok: boolean;
  /** restoreBackup would succeed and restore exactly what the backup certified (ok, or every problem rebuildable). */
  restorable: boolean;
  directory: string;
  /** The backup's version, when BACKUP.json could be read. */
  version: number | undefined;
  files: number;
  bytes: number;
  problems: BackupVerifyProblem[];
  /** Blocks and parity pages restore would rebuild from parity (as RestoreResult.repaired lists them). */
  rebuildable: RestoreRepair[];
}

/** Checks a backup directory without writing; a missing or damaged BACKUP.json is a problem, not a throw. */
export async function verifyBackup(
  fileSystem: FileSystem, backupDirectory: string, onProgress?: (progress: BackupProgress) => void,
): Promise<BackupVerifyReport> {
  const hash = await loadHash64();
  const report: BackupVerifyReport = {
    ok: true, restorable: true, directory: backupDirectory, version: undefined, files: 0, bytes: 0, problems: [], rebuildable: [],
  };
  let body: BackupBody;
  try {
    body = await readBackupManifest(fileSystem, backupDirectory, hash);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    return { ...report, ok: false, restorable: false, problems: [{ path: error.path, reason: error.message, rebuildable: false }] };
  }
  report.version = body.version;
  report.files = body.files.length;
  const damagedRuns: BackupFile[] = [];
  for (const [index, file] of body.files.entries()) {
    const problem = await checkFile(fileSystem, backupDirectory, file, hash);
    if (runDamage(file, problem)) damagedRuns.push(file);
    else if (problem !== undefined) {
      const twin = await intactTwin(fileSystem, backupDirectory, file, body.files, hash);
      const located = await withDamageOffset(fileSystem, backupDirectory, file, body.files, problem);
      const reason = twin === undefined ? located : `${located}; restorable: restore writes it from ${twin}, which has the bytes BACKUP.json certifies for it`;
      report.problems.push({ path: file.path, reason, rebuildable: twin !== undefined });
    }
    report.bytes += file.sizeBytes;
    onProgress?.({ filesDone: index + 1, filesTotal: body.files.length, bytesDone: report.bytes });
  }
  if (damagedRuns.length > 0) {
    await checkRebuilds(fileSystem, backupDirectory, damagedRuns, hash, report);
    const order = new Map(body.files.map((file, index) => [file.path, index]));
    report.problems.sort((a, b) => order.get(a.path)! - order.get(b.path)!); // BACKUP.json's order, as without rebuilds
  }
  report.ok = report.problems.length === 0;
  report.restorable = report.problems.every((problem) => problem.rebuildable);
  return report;
}

/** Rebuilds each damaged run in memory as restore does, and reports whether that restores it exactly. */
async function checkRebuilds(fileSystem: FileSystem, backupDirectory: string, damagedRuns: BackupFile[], hash: Hash64, report: BackupVerifyReport): Promise<void> {
  let descriptors: Map<string, RunDescriptor>;
  try {
    descriptors = await backupRunDescriptors(fileSystem, backupDirectory, hash);
  } catch (error) {
    // The backup's manifest cannot name the runs (its copies' own damage is reported above): restore refuses.
    if (!(error instanceof CorruptionError || error instanceof BackupError)) throw error;
    for (const file of damagedRuns) {
      report.problems.push({ path: file.path, reason: `${CHECKSUM_MISMATCH}; restore refuses it: the backup's manifest cannot be read (${error.message})`, rebuildable: false });
    }
    return;
  }
  for (const file of damagedRuns) {
    try {
      const { repaired } = await rebuildBackupRun(fileSystem, backupDirectory, file, descriptors, hash);
      report.rebuildable.push(...repaired);
      const blocks = repaired.map((repair) => `${repair.kind} at ${repair.logicalOffset}`).join(', ');
      report.problems.push({
        path: file.path,
        reason: `${CHECKSUM_MISMATCH}; rebuildable from parity: restore rebuilds ${repaired.length} of its blocks (${blocks}) and restores it exactly`,
        rebuildable: true,
      });
    } catch (error) {
      if (!(error instanceof CorruptionError || error instanceof BackupError)) throw error;
      // The error restore would throw (damage beyond parity names the offset and says so).
      report.problems.push({ path: file.path, reason: `${CHECKSUM_MISMATCH}; restore refuses it: ${error.message}`, rebuildable: false });
    }
  }
}

/**
 * For a damaged or missing manifest copy: the path of another copy BACKUP.json certifies
 * with the same size and checksum that is intact (the two copies of a backup's manifest
 * are byte for byte the same), from which restore writes it; undefined when none is.
 */
export async function intactTwin(fileSystem: FileSystem, backupDirectory: string, file: BackupFile, files: readonly BackupFile[], hash: Hash64): Promise<string | undefined> {
  if (!file.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)) return undefined;
  for (const twin of files) {
    if (twin.path === file.path || !twin.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)) continue;
    if (twin.sizeBytes !== file.sizeBytes || twin.checksum !== file.checksum) continue;
    if ((await checkFile(fileSystem, backupDirectory, twin, hash)) === undefined) return twin.path;
  }
  return undefined;
}

/**
 * `problem` with the offset of the damage when a manifest copy's bytes are wrong (its size
 * right): the first byte at which it differs from another copy BACKUP.json certifies with
 * the same size and checksum (the copies are the same bytes; when both are damaged, where
 * they differ). BACKUP.json holds one checksum per file, so nothing else can locate it.
 */
export async function withDamageOffset(fileSystem: FileSystem, backupDirectory: string, file: BackupFile, files: readonly BackupFile[], problem: string): Promise<string> {
  if (problem !== CHECKSUM_MISMATCH || !file.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)) return problem;
  for (const twin of files) {
    if (twin.path === file.path || !twin.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)) continue;
    if (twin.sizeBytes !== file.sizeBytes || twin.checksum !== file.checksum) continue;
    let offset: number;
    try {
      const [bytes, twinBytes] = await Promise.all([file, twin].map((copy) => fileSystem.readFile(joinPath(backupDirectory, copy.path))));
      offset = bytes!.findIndex((byte, index) => byte !== twinBytes![index]);
    } catch {
      continue; // the twin unreadable (reported on its own): nothing to compare with
    }
    if (offset >= 0) return `${problem} (first differs from ${twin.path} at offset ${offset})`;
  }
  return problem;
}

/**
 * Why `file` of the backup is unusable as BACKUP.json describes it, or undefined when it is intact.
 * A file that cannot be read (EIO: a bad sector) is damaged like one with a flipped bit: a manifest
 * copy's twin covers it (intactTwin), a run's parity (runDamage, repair-backup-run.ts). A run's other
 * read errors are thrown (IoError).
 */
export async function checkFile(fileSystem: FileSystem, backupDirectory: string, file: BackupFile, hash: Hash64): Promise<string | undefined> {
  const path = joinPath(backupDirectory, file.path);
  if (!(await fileSystem.exists(path))) return 'missing';
  let read: { checksum: string; sizeBytes: number };
  try {
    read = await readChunks(fileSystem, path, hash);
  } catch (error) {
    const manifestCopy = file.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`);
    if (!isFileSystemError(error) || error.code === 'ENOENT' || (!manifestCopy && error.code !== 'EIO')) throw error;
    return `${UNREADABLE} (${error.message})`;
  }
  if (read.sizeBytes !== file.sizeBytes) return `size ${read.sizeBytes}, BACKUP.json says ${file.sizeBytes}`;
  if (read.checksum !== file.checksum) return CHECKSUM_MISMATCH;
  return undefined;
}
