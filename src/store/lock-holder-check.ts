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
 * nobody links above a live holder), so one stat of `LOCK.<G+1>` answers. When it exists
 * the holder's heartbeat is asked to run now (it finds the takeover: onLost, the store's
 * failure and the fence) and the answer is no: the caller refuses the call at once.
 *
 * What remains: the stat and the call it guards are two system calls; a takeover between
 * them is not seen (the window shrinks from a heartbeat interval to that gap). Writes into
 * files already open (the WAL segment being appended to) change no name and are not
 * checked: they are fenced from the heartbeat on, as before.
 */
import type { FileSystem } from '../fs/file-system.js';
import type { DirectoryLock } from './directory-lock.js';

const LOCK_PATH = /^(.*\/LOCK\.)(\d{12})$/;

/** False once a generation above `lock`'s exists (the heartbeat is then asked to run). */
export async function lockStillHeld(fileSystem: FileSystem, lock: DirectoryLock): Promise<boolean> {
  if (lock.lost) return false;
  const match = LOCK_PATH.exec(lock.path);
  if (match === null) return true; // not a generation name: nothing to confirm against
  const next = `${match[1]}${String(Number(match[2]) + 1).padStart(12, '0')}`;
  if (!(await fileSystem.exists(next))) return true;
  void lock.heartbeat(); // never throws
  return false;
}
