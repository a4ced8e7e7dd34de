/**
 * lockStillHeld: is this handle's directory lock still its own, asked right before a
 * rename, link or unlink in the store directory (KillableFileSystem#confirmBeforeNameChanges,
 * wired by open-store.ts).
 *
 * Why: the heartbeat (src/store/directory-lock.ts) finds a takeover up to
 * LOCK_HEARTBEAT_INTERVAL_MS after it happened, and until then the old holder's main
 * thread was not fenced. A takeover of a live holder happens when it is judged stale
 * (another host or PID namespace, a heartbeat older than LOCK_STALE_AFTER_MS: a stalled
 * or paused process, or clocks that disagree); the new holder opens from the manifest and
 * hands out the run ids the old holder also hands out. In that window the old holder's
 * compaction renamed its output over the new holder's run of the same id and unlinked its
 * inputs, which the new holder lists as live (test/takeover-window-names.test.ts).
 *
 * A takeover links generation G+1 first (the holder's is G; generations grow by one, and
 * nobody links above a live holder), so a stat of `LOCK.<G+1>` answers, and one of our own
 * `LOCK.<G>` after two takeovers, which removed both (lockTakenOver). When so,
 * the holder's heartbeat is asked to run now (it finds the takeover: onLost, the store's
 * failure and the fence) and the answer is no: the caller refuses the call at once.
 *
 * What remains: the stat and the call it guards are two system calls; a takeover between
 * them is not seen (the window shrinks from a heartbeat interval to that gap). Writes into
 * files already open (the WAL segment being appended to) change no name and are not
 * checked here: the WAL's group commits are guarded by the lease instead (confirmLease).
 *
 * confirmLease: asked by the commit pipeline before each group's WAL write (GroupCommit,
 * CommitPipeline#confirmLeaseBeforeWrites, wired by open-store.ts). While the lock's lease
 * holds (DirectoryLock#leaseExpired: its last written heartbeat is younger than
 * LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS) it answers undefined at once: one
 * Date.now() per group, nothing else. Once it expired (the event loop was blocked past
 * the margin, or heartbeat writes failed) it runs a heartbeat and waits for it:
 * - renewed (no generation above ours, heartbeatAt rewritten): the group is written;
 * - taken over (the heartbeat found LOCK.<G+1>: onLost, the fence, the store's failure):
 *   the group is refused with the store's failure, whose cause has code ESTORELOCKLOST;
 * - not renewed (the heartbeat's write failed: EIO, ENOSPC, or the lock was released):
 *   we cannot say the directory is still ours, so the group is refused and the store
 *   fails (fail-stop, as a failed WAL write; a reopen takes the lock again).
 * No group is written from a lease that expired, and no commit of a refused group was
 * handed to write(): they get StoreFailedError, certain to be absent.
 */
import { StoreFailedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { fileSystemError } from '../fs/file-system.js';
import { LOCK_LOST_CODE } from '../fs/killable-file-system.js';
import type { DirectoryLock } from './directory-lock.js';
import { LOCK_NAME, lockFileName } from './lock-file.js';

/**
 * True when the holder of the lock file `lockPath` (`LOCK.<G>`) was taken over: the next
 * generation `LOCK.<G+1>` exists (a takeover links it first), or `LOCK.<G>` itself is gone
 * (a holder's own file is only ever rewritten by rename, never removed by it: a later
 * acquisition removes every lower generation, so after two takeovers, say the new holder
 * closed and a third opener took the released lock, G+1 is gone too and only this shows it).
 * Two stats; false for a name that is not a generation's (nothing to confirm against).
 * Pure: the flush and merge threads ask it before their exclusive create (src/run/run-install.ts).
 */
export async function lockTakenOver(fileSystem: Pick<FileSystem, 'exists'>, lockPath: string): Promise<boolean> {
  const directoryEnd = lockPath.lastIndexOf('/') + 1;
  const match = directoryEnd === 0 ? null : LOCK_NAME.exec(lockPath.slice(directoryEnd));
  if (match === null) return false;
  const next = `${lockPath.slice(0, directoryEnd)}${lockFileName(Number(match[1]) + 1)}`;
  return (await fileSystem.exists(next)) || !(await fileSystem.exists(lockPath));
}

/** False once the lock was taken over (lockTakenOver; the heartbeat is then asked to run). */
export async function lockStillHeld(fileSystem: FileSystem, lock: DirectoryLock): Promise<boolean> {
  if (lock.lost) return false;
  if (!(await lockTakenOver(fileSystem, lock.path))) return true;
  void lock.heartbeat(); // never throws
  return false;
}

/**
 * Whether `lock`'s lease holds now (not lost, not expired): one Date.now(). The WAL's
 * background writes after a synced record (the zero fill ahead, the next segment's
 * preparation) start only then (WalWriter#fenceBackgroundWrites): a record's fdatasync
 * can return long after its group's confirmLease, and a fill then wrote zeros ahead in
 * the segment a new holder was writing its records into.
 */
export function leaseHolds(lock: DirectoryLock): boolean {
  return !lock.lost && !lock.leaseExpired(Date.now());
}

/**
 * Undefined while `lock`'s lease holds (no promise: the common case); otherwise a heartbeat
 * runs, and the promise resolves once it renewed the lease, or rejects with the store's
 * failure (`failure()`, set by the lost listeners when the lock was taken over) or, when it
 * was not renewed, a StoreFailedError of its own.
 */
export function confirmLease(lock: DirectoryLock, failure: () => StoreFailedError | undefined): Promise<void> | undefined {
  if (!lock.leaseExpired(Date.now())) return undefined;
  return renewOrRefuse(lock, failure);
}

async function renewOrRefuse(lock: DirectoryLock, failure: () => StoreFailedError | undefined): Promise<void> {
  await lock.renewLease();
  if (lock.lost) {
    throw failure() ?? new StoreFailedError(`the directory lock ${lock.path} was taken over by another process`, {
      cause: fileSystemError(LOCK_LOST_CODE, 'heartbeat', lock.path),
    });
  }
  if (lock.leaseExpired(Date.now())) {
    throw new StoreFailedError(`the lease of the directory lock ${lock.path} expired and its heartbeat could not renew it`, {
      cause: fileSystemError(LOCK_LOST_CODE, 'heartbeat', lock.path),
    });
  }
}
