/**
 * Whether the holder named in a directory lock file still counts as live
 * (src/store/directory-lock.ts; the lock body is described in docs/FORMAT.md,
 * "Lock file").
 *
 * Rules, in order (the first that applies decides):
 * 1. `released: true` -> not live.
 * 2. The token belongs to a handle open in this thread -> live.
 * 3. Same host name AND same PID namespace (the holder's recorded
 *    `/proc/self/ns/pid` link, e.g. "pid:[4026531836]", equals ours; on a system
 *    without PID namespaces both are '') -> its pid means the same process here, so
 *    ask the kernel: not running, a zombie (state Z or X in /proc/<pid>/stat: it
 *    has exited and only waits to be reaped) or a different process start time
 *    (pid reused) -> not live. Then its thread (`threadId`, `threadStart`: the
 *    kernel's id and start time of the thread that took the lock, from
 *    /proc/thread-self), where the lock records it: a store may be opened from a
 *    worker thread, which can end (worker.terminate(), process.exit() in the
 *    worker, an uncaught throw) without its store's close() while the process lives
 *    on. /proc/<pid>/task/<threadId> gone, a zombie or of another start time -> not
 *    live; otherwise live ("pid alive"). A thread that ended has nothing of its store
 *    left to write: a worker's thread ends only after its pending file-system requests
 *    and its own worker threads (flush, merge, compression) did. Where the process's
 *    /proc entry cannot be read (hidepid), the thread is not judged.
 *    Our own pid: the holder is a thread of this process whose token rule 2 did not
 *    find. Module state is per thread (a worker thread loads its own copy of this
 *    package), so those tokens are only this thread's. This thread (or a lock that
 *    records no thread: written before threads were recorded, or without
 *    /proc/thread-self) -> a handle abandoned here (a simulated crash, a failed
 *    acquisition) -> not live. Another thread -> judged by its thread as above: a
 *    worker thread's handle holds the directory until it is closed or its thread ends.
 * 4. Otherwise liveness cannot be checked (another host, another PID namespace,
 *    or a lock that does not record its namespace): the holder is live while its
 *    heartbeat is fresh, i.e. `heartbeatAt` is at most LOCK_STALE_AFTER_MS before
 *    our wall clock (a time in the future is fresh). A lock without a heartbeat
 *    (format version 1, which records no namespace either) is live while its pid
 *    runs on this host (as rule 3 would judge it) and otherwise too, unless the
 *    caller assumes otherwise (`ladybug unlock --force`: an operator vouches that
 *    it is gone).
 *
 * Clock assumption of rule 4: heartbeats are written with the holder's wall clock
 * and judged with the reader's. The holder fences itself before a reader may judge
 * it stale: once its last written heartbeat is LOCK_STALE_AFTER_MS -
 * LOCK_SELF_FENCE_MARGIN_MS old it appends no commit before a heartbeat renews the
 * lock or finds it taken over (DirectoryLock#leaseExpired, lock-holder-check.ts). So
 * every machine sharing the directory must keep its wall clock within
 * LOCK_SELF_FENCE_MARGIN_MS of the others (NTP keeps them within milliseconds). What
 * a stall can still break: a holder paused between that check and its write for
 * longer than the margin (a paused VM or SIGSTOP, as with every lease-based lock;
 * the holder notices it lost the lock at its next heartbeat).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { LOCK_STALE_AFTER_MS } from '../limits.js';
import { assert } from '../util/assert.js';

/** Field 3 of /proc/<pid>/stat: a process that has exited but is not reaped yet. */
const EXITED_PROCESS_STATES: ReadonlySet<string> = new Set(['Z', 'X', 'x']);
/** Index of `starttime` (field 22) among the fields after the `(comm)` field. */
const START_TIME_FIELD_INDEX = 19;

/** What a lock file says about its holder (the fields liveness needs). */
export interface LockHolder {
  pid: number;
  host: string;
  processStart: number;
  token: string;
  released: boolean;
  /** `/proc/self/ns/pid` link of the holder; '' where unknown; absent in format version 1. */
  pidNamespace?: string;
  /** ISO 8601 wall-clock time of the holder's last heartbeat; absent in format version 1. */
  heartbeatAt?: string;
  /** The kernel's id of the holder's thread (/proc/<pid>/task/<threadId>); absent where unknown and before it was recorded. */
  threadId?: number;
  /** That thread's start time in clock ticks since boot (with threadId). */
  threadStart?: number;
}

export type HolderVerdict = { live: true; reason: string } | { live: false; reason: string };

export interface ProcessStat {
  /** One letter: R, S, D, Z (zombie), T, X (dead), ... */
  state: string;
  /** Start time in clock ticks since boot. */
  startTicks: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may itself contain spaces and ')', so fields are counted from
 * the last ')'. Undefined for text that is not a stat line.
 */
export function parseProcessStat(text: string): ProcessStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0 || text.indexOf('(') < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  const state = fields[0];
  const startTicks = Number(fields[START_TIME_FIELD_INDEX]);
  if (state === undefined || !/^[A-Za-z]$/.test(state) || !Number.isSafeInteger(startTicks)) return undefined;
  return { state, startTicks };
}

/** /proc/<pid>/stat of a process visible here, or undefined (no /proc, no such process). */
export function readProcessStat(pid: number): ProcessStat | undefined {
  try {
    return parseProcessStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** This process's start time in clock ticks since boot, or 0 where unknown. */
export function ownProcessStartTicks(): number {
  return readProcessStat(process.pid)?.startTicks ?? 0;
}

/** The kernel's id and start time of a thread. */
export interface ThreadIdentity {
  threadId: number;
  threadStart: number;
}

/** Undefined until asked; null where /proc has no thread-self. Per thread: module state is per thread. */
let ownThreadIdentity: ThreadIdentity | null | undefined;

/** /proc/<pid>/task/<threadId>/stat: a thread of process `pid` ('self': ours), or undefined (it has ended, or no /proc). */
function readThreadStat(pid: number | 'self', threadId: number): ProcessStat | undefined {
  try {
    return parseProcessStat(readFileSync(`/proc/${pid}/task/${threadId}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** The calling thread's kernel id and start time (`/proc/thread-self` names `<pid>/task/<tid>`), or undefined where unknown. */
export function ownThread(): ThreadIdentity | undefined {
  if (ownThreadIdentity === undefined) {
    ownThreadIdentity = null;
    try {
      const link = readlinkSync('/proc/thread-self');
      const threadId = Number(link.slice(link.lastIndexOf('/') + 1));
      const stat = Number.isSafeInteger(threadId) && threadId > 0 ? readThreadStat('self', threadId) : undefined;
      if (stat !== undefined) ownThreadIdentity = { threadId, threadStart: stat.startTicks };
    } catch {
      // no /proc/thread-self (not Linux, or before 3.17): holders in this process are judged as this thread's
    }
  }
  return ownThreadIdentity ?? undefined;
}

let ownNamespace: string | undefined;

/** The identity of our PID namespace ("pid:[4026531836]"), or '' where there is none (not Linux). */
export function ownPidNamespace(): string {
  if (ownNamespace === undefined) {
    try {
      ownNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      ownNamespace = '';
    }
  }
  return ownNamespace;
}

function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Rule 3, the holder's thread, recorded in the lock: undefined while it runs (or cannot
 * be judged: no thread recorded, /proc/<pid> unreadable), else why the holder is not live.
 */
function endedThread(holder: LockHolder, processVisible: boolean): string | undefined {
  const { threadId, threadStart } = holder;
  if (threadId === undefined || threadStart === undefined || !processVisible) return undefined;
  const stat = readThreadStat(holder.pid === process.pid ? 'self' : holder.pid, threadId);
  const where = holder.pid === process.pid ? 'this process' : `pid ${holder.pid}`;
  if (stat === undefined || EXITED_PROCESS_STATES.has(stat.state)) return `thread ${threadId} of ${where} has ended`;
  if (stat.startTicks !== threadStart) return `thread ${threadId} of ${where} has ended (its id was reused)`;
  return undefined;
}

/** Rule 3, our own pid: the holder is a thread of this process, whose token is not this thread's. */
function ownProcessVerdict(holder: LockHolder): HolderVerdict {
  const ownStart = ownProcessStartTicks();
  if (holder.processStart !== 0 && ownStart !== 0 && holder.processStart !== ownStart) {
    return { live: false, reason: `pid ${holder.pid} was reused by this process` };
  }
  const own = ownThread();
  if (holder.threadId === undefined || holder.threadStart === undefined || own === undefined ||
    (holder.threadId === own.threadId && holder.threadStart === own.threadStart)) {
    return { live: false, reason: 'abandoned by a handle in this thread' };
  }
  const ended = endedThread(holder, true);
  if (ended !== undefined) return { live: false, reason: ended };
  return { live: true, reason: `held by another thread of this process (thread ${holder.threadId}), still running` };
}

/** Rule 3: the holder's pid names a process in our namespace on our host. */
function localVerdict(holder: LockHolder): HolderVerdict {
  if (holder.pid === process.pid) return ownProcessVerdict(holder);
  if (!isProcessRunning(holder.pid)) return { live: false, reason: `pid ${holder.pid} is not running` };
  const stat = readProcessStat(holder.pid);
  if (stat !== undefined && EXITED_PROCESS_STATES.has(stat.state)) {
    return { live: false, reason: `pid ${holder.pid} has exited (a zombie not yet reaped)` };
  }
  if (holder.processStart !== 0 && stat !== undefined && stat.startTicks !== holder.processStart) {
    return { live: false, reason: `pid ${holder.pid} was reused by another process` };
  }
  const ended = endedThread(holder, stat !== undefined);
  if (ended !== undefined) return { live: false, reason: ended };
  return { live: true, reason: `pid ${holder.pid} is alive on this host` };
}

/** Rule 4: liveness cannot be checked; judge by the heartbeat. */
function heartbeatVerdict(holder: LockHolder, where: string, nowMs: number, assumeDeadWithoutHeartbeat: boolean): HolderVerdict {
  const heartbeatMs = holder.heartbeatAt === undefined ? Number.NaN : Date.parse(holder.heartbeatAt);
  if (Number.isNaN(heartbeatMs)) {
    if (assumeDeadWithoutHeartbeat) return { live: false, reason: `holder in ${where} has no heartbeat (lock format 1)` };
    return { live: true, reason: `holder in ${where} has no heartbeat to judge by (lock format 1): remove it with \`ladybug unlock <dir> --force\` if it is gone` };
  }
  const ageMs = nowMs - heartbeatMs;
  const ageSeconds = Math.round(Math.max(0, ageMs) / 1000);
  if (ageMs > LOCK_STALE_AFTER_MS) return { live: false, reason: `holder in ${where} has a stale heartbeat (${ageSeconds} s old)` };
  return {
    live: true,
    reason: `holder in ${where} has a fresh heartbeat (${ageSeconds} s old; stale after ${LOCK_STALE_AFTER_MS / 1000} s without one)`,
  };
}

/** Whether `holder` still holds the lock, and why (see the rules in the header). */
export function judgeHolder(
  holder: LockHolder,
  heldInThisThread: ReadonlySet<string>,
  options: { nowMs?: number; assumeDeadWithoutHeartbeat?: boolean } = {},
): HolderVerdict {
  assert(Number.isSafeInteger(holder.pid), 'lock holder pid is an integer');
  if (holder.released) return { live: false, reason: 'released' };
  if (heldInThisThread.has(holder.token)) return { live: true, reason: 'held by an open handle in this process' };
  const nowMs = options.nowMs ?? Date.now();
  const assumeDead = options.assumeDeadWithoutHeartbeat ?? false;
  if (holder.host !== hostname()) return heartbeatVerdict(holder, `another host (${holder.host})`, nowMs, assumeDead);
  if (holder.pidNamespace !== ownPidNamespace()) {
    if (holder.pidNamespace === undefined && holder.heartbeatAt === undefined) {
      // Format 1: no namespace recorded. A running pid here may be the holder: never take it.
      const local = localVerdict(holder);
      if (local.live) return { live: true, reason: `${local.reason} (lock format 1 records no PID namespace)` };
    }
    const where = holder.pidNamespace === undefined ? 'an unrecorded PID namespace' : `another PID namespace (${holder.pidNamespace})`;
    return heartbeatVerdict(holder, where, nowMs, assumeDead);
  }
  return localVerdict(holder);
}
