/**
 * The directory lock: one live handle per store directory, across processes.
 * The lock file format is in docs/FORMAT.md ("Lock file").
 *
 * Lock files are generations: `LOCK.<generation>` (generation zero-padded). The
 * holder is the file with the highest generation; its JSON body names the pid,
 * host, PID namespace, process start time, a random token and the time of the
 * holder's last heartbeat. A lock file only appears complete: it is written under a
 * temporary name, then hard-linked into place with `link`, which fails if the name
 * exists. That is the whole protocol:
 *
 *   acquire: read the highest generation G.
 *     - G's holder counts as live (src/store/lock-liveness.ts) -> StoreLockedError
 *       saying why (pid alive / another PID namespace or host with a fresh heartbeat).
 *     - otherwise (no lock, released, holder dead, or stale heartbeat): link our
 *       file as G+1. EEXIST means another opener won G+1: start over.
 *     - after linking, if any generation above ours exists, we lost a race against
 *       a slower opener's view: remove ours and start over.
 *     - won: remove lower generations (they are dead) and the temporaries crashes left
 *       (acquisitions' only up to our generation: #confirmHighest). Nothing is fsynced (below).
 *   heartbeat: every LOCK_HEARTBEAT_INTERVAL_MS (an unref'd timer) the holder
 *     rewrites its own generation with a new `heartbeatAt` (temporary file, fsync,
 *     rename: readers see the old or the new body, never a torn one). It first
 *     checks that no higher generation exists; if one does, the lock was taken over
 *     (this holder stalled past LOCK_STALE_AFTER_MS): it stops, never rewrites,
 *     and reports `lost`. Heartbeats and release are serialised (one at a time).
 *   release: stop the heartbeat, rewrite our generation as released (temp file +
 *     rename), never delete it, so generations only grow and a slow opener holding
 *     an old view can never create a generation that beats a newer holder.
 *   abandon: stop the heartbeat and forget the lock (a simulated crash).
 *   lease: the holder fences itself before others may judge it stale (leaseExpired,
 *     renewLease): from LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS after the
 *     heartbeatAt it last wrote, its store writes no WAL group before a heartbeat ran
 *     (src/store/lock-holder-check.ts, confirmLease).
 *   unlock (`ladybug unlock --force`): take over a dead or stale lock with the same
 *     protocol and release it at once, so generations keep growing.
 *
 * Acquiring syncs neither the lock file nor the directory (a clean reopen writes
 * nothing else that must wait for the disk; each fsync was a journal commit or a
 * device cache flush, 1-20 ms on a busy disk, on the open's critical path). The lock
 * excludes running processes only, and running processes read the page cache. A power
 * loss or OS crash ends every holder, and whatever of an acquisition survives it is
 * read as no live holder: the new generation missing (the older one, released or
 * dead, is the highest again), present but empty or torn (readBody: unreadable ->
 * the next generation is taken), or complete (its pid or processStart is not
 * running after the reboot; another host judges it by its heartbeat, as before).
 * Generations may then go back down, but only across a crash, when no opener holding
 * an older view is alive. Heartbeats and release still write temp + fsync + rename
 * (+ directory fsync for release): a holder's body on disk stays whole.
 *
 * Several processes racing for one stale lock: `link` of G+1 succeeds for exactly
 * one of them (the stale lock-file check-then-delete race designed out). A holder in
 * this thread is known by its token, so a handle left open in-process (or lost to
 * a simulated crash in tests) is told apart from a live one without signals. The token
 * counts from before the link of its generation to after the rename of its release, so
 * no other open in this thread reads that generation without a live holder in it. A
 * holder in another thread of this process (a worker thread: module state is per
 * thread) is judged by its thread, recorded in the body: live while that thread runs.
 *
 * The lock file's body, its names and their reads and writes are in src/store/lock-file.ts.
 */
import { LockContendedError, StoreLockedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath, unlinkIfPresent } from '../fs/file-system.js';
import { LOCK_HEARTBEAT_INTERVAL_MS, LOCK_SELF_FENCE_MARGIN_MS, LOCK_STALE_AFTER_MS } from '../limits.js';
import { assert } from '../util/assert.js';
import {
  generationsIn, listGenerations, type LockBody, lockFileName, newBody, readBody, rewrite, writeBody,
} from './lock-file.js';
import { type HolderVerdict, judgeHolder } from './lock-liveness.js';

export { LOCK_FORMAT_VERSION, type LockBody } from './lock-file.js';

/** Temporary files of heartbeats and releases: left behind only by a crash mid-rewrite. */
const REWRITE_TEMPORARY_NAME = /^LOCK\.tmp-([0-9a-f]+)-(heartbeat|release)$/;
/** Temporary files of acquisitions (`LOCK.tmp-<token>-<generation>`): left behind by a crash mid-acquire. */
const ACQUIRE_TEMPORARY_NAME = /^LOCK\.tmp-([0-9a-f]+)-(\d+)$/;

const ACQUIRE_ATTEMPTS_MAX = 100;
/** The global key of heldInThisThread. */
const HELD_TOKENS = Symbol.for('ladybug-store.directory-lock.held-tokens');

/** What `unlock` found and did. */
export interface UnlockResult {
  /** The generation that was current before, or undefined if there was no lock file. */
  previousGeneration: number | undefined;
  previousHolder: { pid: number; host: string; pidNamespace: string | undefined; heartbeatAt: string | undefined } | undefined;
  /** Why the previous holder did not count as live. */
  reason: string;
  /** The released generation written in its place, or undefined when nothing needed doing. */
  releasedGeneration: number | undefined;
}

/**
 * Tokens of the locks held by live handles in this thread. Module state is per thread (a
 * worker thread loads its own copy of this module): other threads' holders are judged by
 * their thread (lock-liveness.ts, rule 3). Shared by every copy of this module the thread
 * loaded (the package installed or bundled twice), through a global registered symbol,
 * so no copy judges another copy's live lock abandoned.
 */
const heldInThisThread: Set<string> = heldTokensOfThisThread();

function heldTokensOfThisThread(): Set<string> {
  const registry = globalThis as { [HELD_TOKENS]?: Set<string> };
  registry[HELD_TOKENS] ??= new Set<string>();
  return registry[HELD_TOKENS];
}

/** Whether the holder named by `body` still holds the lock (see src/store/lock-liveness.ts). */
export function isHolderLive(body: LockBody): boolean {
  return judgeHolder(body, heldInThisThread).live;
}

interface AcquireOptions {
  /** Count a holder without a heartbeat (format 1) whose liveness cannot be checked as dead (unlock --force). */
  assumeDeadWithoutHeartbeat?: boolean;
  /** Start the heartbeat timer (not for a lock released at once). */
  heartbeat?: boolean;
}

export class DirectoryLock {
  readonly #fileSystem: FileSystem;
  readonly #dir: string;
  readonly #generation: number;
  #body: LockBody;
  #released = false;
  #lost = false;
  #lostListeners: Array<() => void> = [];
  #heartbeatTimer: NodeJS.Timeout | undefined;
  /** The heartbeat or release rewriting our file, if one is running (they never overlap). */
  #rewriting: Promise<void> | undefined;
  /**
   * Date.now() value of the heartbeatAt we last wrote successfully (at acquire, then each
   * heartbeat): the wall clock a taker judges our lock by. Our lease runs from it.
   */
  #leaseFromMs: number;

  private constructor(fileSystem: FileSystem, dir: string, generation: number, body: LockBody) {
    this.#fileSystem = fileSystem;
    this.#dir = dir;
    this.#generation = generation;
    this.#body = body;
    this.#leaseFromMs = Date.parse(body.heartbeatAt ?? body.acquiredAt);
  }

  get path(): string {
    return joinPath(this.#dir, lockFileName(this.#generation));
  }

  /** True once a heartbeat found a higher generation: another process took the lock over. */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * `listener` is called once when a heartbeat finds the lock taken over (at once if it
   * was): the store's failure (src/store/store-failure.ts). It must not throw or block.
   */
  onLost(listener: () => void): void {
    if (this.#lost) listener();
    else this.#lostListeners.push(listener);
  }

  /**
   * Takes the lock on `dir` or throws StoreLockedError naming the live holder and why it counts as live;
   * LockContendedError when other openers won ACQUIRE_ATTEMPTS_MAX generations in a row.
   */
  static async acquire(fileSystem: FileSystem, dir: string, options: AcquireOptions = {}): Promise<DirectoryLock> {
    const body = newBody();
    /** Our generation while it is linked and not given up: a failure from then on releases it. */
    let linkedLock: DirectoryLock | undefined;
    try {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
        const generation = await DirectoryLock.#nextGeneration(fileSystem, dir, options);
        const linked = await DirectoryLock.#tryLink(fileSystem, dir, generation, body);
        if (linked !== undefined) {
          const lock = new DirectoryLock(fileSystem, dir, generation, body);
          linkedLock = lock;
          // The temporary name's removal and the check of the generations, concurrently (two
          // thread-pool round trips, each a wait on a busy machine); both settle before either failure is thrown.
          const [removed, confirmed] = await Promise.allSettled([linked.temporaryRemoved, lock.#confirmHighest()]);
          if (removed.status === 'rejected') throw removed.reason;
          if (confirmed.status === 'rejected') throw confirmed.reason;
          if (confirmed.value) {
            if (options.heartbeat ?? true) lock.#startHeartbeat();
            return lock;
          }
          linkedLock = undefined; // lost to a higher generation: ours is removed
        }
      }
    } catch (error) {
      // An acquisition that failed half-way (I/O error, simulated crash) must not
      // leave its token counted as a live holder in this thread, nor its generation
      // linked: another process judges it by our pid, alive, and would be refused until
      // this process exits. It is released (best effort: the error is the one thrown).
      heldInThisThread.delete(body.token);
      await linkedLock?.release().catch(() => undefined);
      throw error;
    }
    throw new LockContendedError(dir, ACQUIRE_ATTEMPTS_MAX);
  }

  /**
   * `ladybug unlock --force`: replaces a lock whose holder is dead, stale or has no
   * heartbeat with a released one (taken over with the generation protocol, then
   * released). Throws StoreLockedError while the holder is live (a fresh heartbeat).
   */
  static async unlock(fileSystem: FileSystem, dir: string): Promise<UnlockResult> {
    const generations = await listGenerations(fileSystem, dir);
    const newest = generations[generations.length - 1];
    const holder = newest === undefined ? undefined : await readBody(fileSystem, joinPath(dir, lockFileName(newest)));
    const verdict: HolderVerdict = holder === undefined
      ? { live: false, reason: newest === undefined ? 'no lock file' : 'unreadable lock file' }
      : judgeHolder(holder, heldInThisThread, { assumeDeadWithoutHeartbeat: true });
    const previousHolder = holder && {
      pid: holder.pid, host: holder.host, pidNamespace: holder.pidNamespace, heartbeatAt: holder.heartbeatAt,
    };
    const result: UnlockResult = { previousGeneration: newest, previousHolder, reason: verdict.reason, releasedGeneration: undefined };
    if (newest === undefined || holder?.released === true) return result;
    // acquire judges again: a holder that came back to life in between still wins.
    const lock = await DirectoryLock.acquire(fileSystem, dir, { assumeDeadWithoutHeartbeat: true, heartbeat: false });
    await lock.release();
    return { ...result, releasedGeneration: lock.#generation };
  }

  /** The generation to claim, or throws StoreLockedError when the newest holder is live. */
  static async #nextGeneration(fileSystem: FileSystem, dir: string, options: AcquireOptions): Promise<number> {
    const generations = await listGenerations(fileSystem, dir);
    const newest = generations[generations.length - 1];
    if (newest === undefined) return 1;
    const path = joinPath(dir, lockFileName(newest));
    const holder = await readBody(fileSystem, path);
    if (holder !== undefined) {
      const verdict = judgeHolder(holder, heldInThisThread, { assumeDeadWithoutHeartbeat: options.assumeDeadWithoutHeartbeat ?? false });
      if (verdict.live) throw new StoreLockedError(path, holder.pid, holder.host, verdict.reason);
    }
    return newest + 1;
  }

  /**
   * Writes our body under a temporary name and links it as `generation`. Linked: the
   * temporary name's removal, still running (the caller awaits it). Not linked (another
   * opener has the name, EEXIST): undefined, the temporary removed. Any other failure
   * is thrown once the temporary is removed.
   */
  static async #tryLink(fileSystem: FileSystem, dir: string, generation: number, body: LockBody): Promise<{ temporaryRemoved: Promise<void> } | undefined> {
    const temporary = joinPath(dir, `LOCK.tmp-${body.token}-${generation}`);
    await writeBody(fileSystem, temporary, body, false); // not synced: see the module header
    // Counted as held before the name exists: another opener in this thread that reads
    // the new generation must find a live holder. Counted only after the link, an opener
    // reading it in between judged this thread's lock without a known token "abandoned
    // by a handle in this thread", took the next generation, and both opens could win.
    heldInThisThread.add(body.token);
    try {
      await fileSystem.link(temporary, joinPath(dir, lockFileName(generation)));
    } catch (error) {
      heldInThisThread.delete(body.token);
      // The temporary may be gone already: a holder of `generation` or a higher one
      // removes acquisition temporaries up to its generation (#confirmHighest), so
      // ENOENT, like EEXIST, means this attempt lost: start over.
      await unlinkIfPresent(fileSystem, temporary);
      if (isFileSystemError(error, 'EEXIST') || isFileSystemError(error, 'ENOENT')) return undefined;
      throw error;
    }
    const temporaryRemoved = unlinkIfPresent(fileSystem, temporary);
    temporaryRemoved.catch(() => undefined); // awaited by acquire, beside #confirmHighest
    return { temporaryRemoved };
  }

  /** After linking: keep the lock only if no higher generation exists; then clear older ones and their leftovers. */
  async #confirmHighest(): Promise<boolean> {
    // One listing for both steps: the temporaries below are told apart by name, and
    // removing lower generations does not change which exist.
    const names = await this.#fileSystem.readdir(this.#dir);
    const generations = generationsIn(names);
    if (generations.some((generation) => generation > this.#generation)) {
      heldInThisThread.delete(this.#body.token);
      // A holder above us may have removed it already (it removes lower generations).
      await unlinkIfPresent(this.#fileSystem, this.path);
      return false;
    }
    for (const generation of generations) {
      if (generation < this.#generation) {
        await this.#fileSystem.unlink(joinPath(this.#dir, lockFileName(generation))).catch(() => undefined);
      }
    }
    // Heartbeat and release temporaries of earlier holders (a crash mid-rewrite). A
    // holder that is still running lost the lock; its next rewrite fails or notices.
    for (const name of names) {
      const match = REWRITE_TEMPORARY_NAME.exec(name);
      if (match && match[1] !== this.#body.token) await unlinkIfPresent(this.#fileSystem, joinPath(this.#dir, name));
    }
    // Acquisition temporaries of other openers (a crash between writing one and removing
    // it), for our generation or a lower one only. A live opener's temporary for such a
    // generation cannot win: our generation exists, and only a higher holder removes it,
    // so its link fails with EEXIST, or succeeds below ours and #confirmHighest undoes it;
    // removed under it, its link fails with ENOENT and it starts over the same way (#tryLink).
    // A temporary for a higher generation is left alone (a live opener's may be about to
    // win once we are stale); a leftover one goes once the generations pass it.
    for (const name of names) {
      const match = ACQUIRE_TEMPORARY_NAME.exec(name);
      if (match && match[1] !== this.#body.token && Number(match[2]) <= this.#generation) {
        await unlinkIfPresent(this.#fileSystem, joinPath(this.#dir, name));
      }
    }
    return true; // the directory is not fsynced: see the module header
  }

  #startHeartbeat(): void {
    assert(this.#heartbeatTimer === undefined, 'one heartbeat timer per lock');
    this.#heartbeatTimer = setInterval(() => {
      if (this.#rewriting === undefined) void this.heartbeat();
    }, LOCK_HEARTBEAT_INTERVAL_MS);
    this.#heartbeatTimer.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  /**
   * Refreshes `heartbeatAt` in our lock file (the timer calls this; tests may too).
   * Never throws: a failed heartbeat is retried at the next interval, and a lock
   * taken over by another process is marked `lost` and no longer refreshed.
   */
  async heartbeat(): Promise<void> {
    if (this.#released || this.#lost || this.#rewriting !== undefined) return;
    const beating = this.#beat().catch((error: unknown) => {
      if (!this.#released) process.emitWarning(`ladybug: lock heartbeat of ${this.path} failed: ${String(error)}`);
    });
    this.#rewriting = beating.finally(() => { this.#rewriting = undefined; });
    await this.#rewriting;
  }

  async #beat(): Promise<void> {
    const generations = await listGenerations(this.#fileSystem, this.#dir);
    if (this.#released) return;
    if (generations.some((generation) => generation > this.#generation)) {
      this.#lost = true;
      this.#stopHeartbeat();
      heldInThisThread.delete(this.#body.token);
      process.emitWarning(`ladybug: the lock ${this.path} was taken over by another process (heartbeat stalled past the stale bound)`);
      const listeners = this.#lostListeners;
      this.#lostListeners = [];
      for (const listener of listeners) listener();
      return;
    }
    const body = { ...this.#body, heartbeatAt: new Date().toISOString() };
    await rewrite(this.#fileSystem, joinPath(this.#dir, `LOCK.tmp-${body.token}-heartbeat`), this.path, body);
    this.#body = body;
    this.#leaseFromMs = Date.parse(body.heartbeatAt); // a failed rewrite renews nothing
  }

  /**
   * Self-fencing by lease expiry: true once `nowMs` (Date.now(), the clock a taker judges
   * our heartbeatAt by) is LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS past the
   * heartbeatAt we last wrote. From then on the holder must not write to the WAL before a
   * heartbeat ran (renewLease): another process may soon judge the lock stale and take
   * it over, and we would learn of it only at that heartbeat. A healthy holder renews
   * every LOCK_HEARTBEAT_INTERVAL_MS and never gets here; one whose event loop was
   * blocked past the margin (or whose heartbeat writes failed) does.
   */
  leaseExpired(nowMs: number): boolean {
    return nowMs >= this.#leaseFromMs + LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS;
  }

  /**
   * Runs a heartbeat now (after the one already running, if any) unless that one renewed
   * the lease. Never throws: afterwards `lost` says the lock was taken over (the lost
   * listeners ran) and `leaseExpired` whether the lease is still expired (the heartbeat's
   * write failed, or the lock was released).
   */
  async renewLease(): Promise<void> {
    while (this.#rewriting !== undefined) await this.#rewriting;
    if (this.leaseExpired(Date.now())) await this.heartbeat();
  }

  /** Stops the heartbeat and marks the lock released on disk (temp file + rename + directory fsync). Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#stopHeartbeat();
    await this.#rewriting;
    if (this.#lost) {
      // A newer generation holds the store: rewriting ours would only resurrect a removed file.
      heldInThisThread.delete(this.#body.token);
      this.#released = true;
      return;
    }
    const temporary = joinPath(this.#dir, `LOCK.tmp-${this.#body.token}-release`);
    try {
      await rewrite(this.#fileSystem, temporary, this.path, { ...this.#body, released: true });
    } finally {
      // Live until the file says released: an open in this thread reading it before then
      // is refused (StoreLockedError), not handed the lock of a handle still closing.
      // Forgotten also when the rewrite failed, as the token of a dead handle.
      heldInThisThread.delete(this.#body.token);
    }
    await this.#fileSystem.syncDirectory(this.#dir);
    this.#released = true;
  }

  /** Stops the heartbeat and forgets the lock without touching disk (a simulated crash: the holder is gone). */
  abandon(): void {
    assert(!this.#released, 'abandon a held lock');
    this.#stopHeartbeat();
    this.#released = true;
    heldInThisThread.delete(this.#body.token);
  }
}
