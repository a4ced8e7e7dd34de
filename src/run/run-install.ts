/**
 * The main thread's half of a run written in a worker thread (the flush thread,
 * src/engine/flush-worker.ts; the merge thread, src/compaction/merge-worker.ts).
 *
 * Why: a thread has its own file system (a NodeFileSystem of its own), outside the
 * store's fence (KillableFileSystem#refuseWrites, raised when another process took the
 * directory lock over: src/store/directory-lock.ts). When a thread renamed its own
 * `<id>.tmp` into place, a flush or merge under way at the takeover went on after the
 * fence was up: the new holder, which opened from the manifest where that run id was
 * never installed, hands out the same id, and the old holder's rename took the new
 * holder's temporary file (its flush then failed, ENOENT) or replaced its installed run.
 *
 * So a thread only writes the temporary file (writeRun with `temporaryOnly`: created
 * exclusively, written, datasynced, closed; never renamed or removed there) and every
 * change to a name in runs/ is made here, on the main thread, through the store's file
 * system, which refuses it once the lock was lost:
 *
 *   clearTemporaryRun   before the job is sent: a leftover `<id>.tmp` is removed (the
 *                       thread's exclusive create would fail on it);
 *   installTemporaryRun after the thread answered: rename to `<id>.run`, fsync runs/
 *                       (as writeRun does in process; a failure removes the name it
 *                       left, best effort, and rethrows typed);
 *   removeTemporaryRun  after the thread failed, was cancelled or exited: best effort.
 *
 * The thread's own exclusive create of `<id>.tmp` is outside that file system too: a
 * thread stalled across a takeover created the name the new holder had just cleared for
 * its own thread, whose create then failed (EEXIST, a final flush failure of the new
 * holder). So a thread first confirms the lock against its file (confirmThreadCreate:
 * lockTakenOver, as KillableFileSystem confirms an exclusive create) and refuses once
 * it was taken over.
 *
 * What remains: a thread's writes into its own open temporary file go on until it
 * answers (they change no name and no file the new holder has: after the takeover that
 * name is at most an orphan the new holder's open, or its own exclusive create of that
 * id, removes); a temporary file whose removal the fence refused stays until the new
 * holder's next open. The fence itself covers only what is asked after the old holder
 * learned of the takeover (docs/ARCHITECTURE.md, "Failures").
 */
import { asTypedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { fileSystemError, joinPath, unlinkIfPresent } from '../fs/file-system.js';
import { KillableFileSystem, LOCK_LOST_CODE } from '../fs/killable-file-system.js';
import { lockTakenOver } from '../store/lock-holder-check.js';
import { runFileName } from './run-format.js';
import { RUN_TEMPORARY_SUFFIX } from './run-writer.js';

function temporaryPathOf(runsDirectory: string, runId: number): string {
  return joinPath(runsDirectory, runFileName(runId) + RUN_TEMPORARY_SUFFIX);
}

/** Removes a leftover `<id>.tmp` before a thread writes run `runId` (errors propagate: the fence's above all). */
export async function clearTemporaryRun(fileSystem: FileSystem, runsDirectory: string, runId: number): Promise<void> {
  try {
    await unlinkIfPresent(fileSystem, temporaryPathOf(runsDirectory, runId));
  } catch (error) {
    throw asTypedError(error, `writing run ${joinPath(runsDirectory, runFileName(runId))}`);
  }
}

/** Renames the thread's `<id>.tmp` to `<id>.run` and fsyncs runs/: the run is then durable under its name. */
export async function installTemporaryRun(fileSystem: FileSystem, runsDirectory: string, runId: number): Promise<void> {
  const finalPath = joinPath(runsDirectory, runFileName(runId));
  let renamed = false;
  try {
    await fileSystem.rename(temporaryPathOf(runsDirectory, runId), finalPath);
    renamed = true;
    await fileSystem.syncDirectory(runsDirectory);
  } catch (error) {
    await fileSystem.unlink(renamed ? finalPath : temporaryPathOf(runsDirectory, runId)).catch(() => undefined);
    throw asTypedError(error, `writing run ${finalPath}`);
  }
}

/** Removes the thread's `<id>.tmp` after it failed, was cancelled or exited (best effort). */
export async function removeTemporaryRun(fileSystem: FileSystem, runsDirectory: string, runId: number): Promise<void> {
  await fileSystem.unlink(temporaryPathOf(runsDirectory, runId)).catch(() => undefined);
}

/**
 * The lock file a thread job carries for confirmThreadCreate: the store's
 * (KillableFileSystem#lockPath), undefined for a file system without one.
 */
export function lockPathFor(fileSystem: FileSystem): string | undefined {
  return fileSystem instanceof KillableFileSystem ? fileSystem.lockPath : undefined;
}

/**
 * In the thread, right before its exclusive create of `<id>.tmp`: refuses (LOCK_LOST_CODE,
 * typed as the run's write failure) once the lock of `lockPath` was taken over
 * (lockTakenOver). Two stats; a takeover between them and the create is not seen.
 */
export async function confirmThreadCreate(fileSystem: FileSystem, lockPath: string | undefined, runsDirectory: string, runId: number): Promise<void> {
  if (lockPath === undefined || !(await lockTakenOver(fileSystem, lockPath))) return;
  const error = fileSystemError(LOCK_LOST_CODE, 'open', temporaryPathOf(runsDirectory, runId));
  throw asTypedError(error, `writing run ${joinPath(runsDirectory, runFileName(runId))}`);
}
