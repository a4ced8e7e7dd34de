/**
 * Typed errors. Every error the store throws on purpose carries a stable `code`
 * (documented in the README, never changed once released). Callers match on
 * `code` or on the class, never on the message text.
 *
 * Misuse of the API (wrong argument type, value out of range, bad option) uses
 * subclasses of TypeError / RangeError, as Node's own APIs do; failures of the
 * store itself (locked, failed, corrupt, disk full) subclass LadybugError.
 *
 * The codes, the base class LadybugError and isLadybugError are error-codes.ts; the
 * misuse errors argument-errors.ts; this module holds the store's own failures and
 * re-exports the two others, so every error is imported from here.
 */
import { ErrorCode, isLadybugError, LadybugError } from './error-codes.js';
import { isDescriptorCode, OUT_OF_DESCRIPTORS_ADVICE } from './fs/out-of-descriptors.js';

export { ErrorCode, isLadybugError, LadybugError } from './error-codes.js';
export type { ErrorCodeValue } from './error-codes.js';
export { BatchTooLargeError, describeValue, InvalidKeyError, InvalidOptionError, InvalidValueError, refuseOtherObjectKind, ValueTooLargeError } from './argument-errors.js';
export type { InvalidKeyReason } from './argument-errors.js';

/**
 * A read would return a key whose bytes are not valid UTF-8 as a string, with the
 * default `keyEncoding: 'utf8'`: no string stands for those bytes (decoding would
 * replace them with U+FFFD and the key could not be read back), so the read refuses
 * rather than return a different key. `keyEncoding: 'binary'` returns every key.
 */
export class KeyEncodingError extends LadybugError {
  readonly keyBytes: Uint8Array;
  constructor(keyBytes: Uint8Array) {
    super(
      ErrorCode.KeyNotUtf8,
      `key 0x${Buffer.from(keyBytes).toString('hex')} is not valid UTF-8 and has no string form; ` +
        "open the store with keyEncoding: 'binary' to read it",
    );
    this.keyBytes = keyBytes;
  }
}

/** The store handle was closed (or is closing) and cannot be used. */
export class StoreClosedError extends LadybugError {
  constructor(operation: string, options?: { cause?: unknown }) {
    super(ErrorCode.StoreClosed, `store is closed: cannot ${operation}`, options);
  }
}

/** Another live process (or another handle in this process) holds the directory lock. */
export class StoreLockedError extends LadybugError {
  readonly holderPid: number;
  readonly lockPath: string;
  /** Why the holder counts as live: pid alive, another PID namespace or another host with a fresh heartbeat, ... */
  readonly liveReason: string;
  constructor(lockPath: string, holderPid: number, holderHost: string, liveReason = 'holder is live') {
    super(
      ErrorCode.StoreLocked,
      `store is locked by pid ${holderPid} on ${holderHost} (${lockPath}): ${liveReason}; ` +
        'close that handle or stop that process first',
    );
    this.holderPid = holderPid;
    this.lockPath = lockPath;
    this.liveReason = liveReason;
  }
}

/**
 * The directory lock could not be taken because other openers kept winning the race
 * for each new generation (src/store/directory-lock.ts): `attempts` tries in a row,
 * each lost, none finding a live holder to name (that is StoreLockedError). Nothing
 * of this opener is left behind; retrying later is safe.
 */
export class LockContendedError extends LadybugError {
  readonly lockDirectory: string;
  readonly attempts: number;
  constructor(lockDirectory: string, attempts: number) {
    super(
      ErrorCode.LockContended,
      `could not take the lock on ${lockDirectory}: other openers won it ${attempts} times in a row; retry once they are done`,
    );
    this.lockDirectory = lockDirectory;
    this.attempts = attempts;
  }
}

/**
 * An fsync (or another durability step) failed. The store does not retry and trust
 * it: every later write is rejected with this error until the store is reopened,
 * which replays the log from disk.
 */
export class StoreFailedError extends LadybugError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(ErrorCode.StoreFailed, `store has failed and must be reopened: ${reason}`, options);
  }
}

/**
 * The store failed while this commit was being written (its record had been handed
 * to write(), but the write or the fdatasync after it failed, or applying it did): the
 * commit may or may not be durable, and may be present after a reopen. It would have
 * had `version`. Do not retry blindly: make the retry idempotent (README, "Retrying
 * safely"). Commits that were never written get StoreFailedError and are certain to
 * be absent. As FoundationDB's commit_unknown_result.
 */
export class CommitOutcomeUnknownError extends LadybugError {
  readonly version: number;
  constructor(version: number, options?: { cause?: unknown }) {
    super(
      ErrorCode.CommitOutcomeUnknown,
      `the store failed while commit version ${version} was being written: it may or may not be durable (reopen and check before retrying)`,
      options,
    );
    this.version = version;
  }
}

/**
 * The disk is full (ENOSPC). `failed` says what failed because of it, and the message ends
 * with it: a commit ('the commit was rejected': never written, retrying it is safe, the
 * store stays usable), or the operation named ('checkpoint /data failed', 'close /data
 * failed', 'compact /data failed', 'writing run /data/runs/... failed': asTypedError),
 * which wrote nothing that replaces what is stored. Every constructor names what failed:
 * the message once said "the commit was rejected" for a full disk in close(), a
 * checkpoint, a flush or a compaction too, where no commit was.
 */
export class DiskFullError extends LadybugError {
  /** The file (or directory) being written when the disk filled, when known. */
  readonly path: string | undefined;
  /** What failed because of it: 'the commit was rejected', 'checkpoint /data failed (...)', ... */
  readonly failed: string;
  constructor(path: string | undefined, failed: string, options?: { cause?: unknown }) {
    super(ErrorCode.DiskFull, `no space left on device${path === undefined ? '' : ` while writing ${path}`}; ${failed}`, options);
    this.path = path;
    this.failed = failed;
  }
}

/** An I/O error that is neither ENOSPC nor a failed fsync. `errno` is the system code (EIO, EACCES, ...). */
export class IoError extends LadybugError {
  readonly errno: string | undefined;
  constructor(message: string, options?: { cause?: unknown; errno?: string }) {
    super(ErrorCode.Io, message, options);
    this.errno = options?.errno;
  }
}

/**
 * Wraps a raw file-system error (a Node-style `code` such as EIO) thrown while
 * doing `what` in an IoError (DiskFullError for ENOSPC: "`what` failed"), keeping it
 * as `cause`. A DiskFullError from a step of `what` (a run's write under a checkpoint)
 * is restated as `what`'s failure, the step's in parentheses (the step's error is the
 * cause), so the message names the operation the caller called. The package's other
 * errors and programming errors pass through unchanged.
 */
export function asTypedError(error: unknown, what: string): unknown {
  if (error instanceof DiskFullError) {
    const failed = `${what} failed`;
    // One rebuilt across a thread's port keeps its fields (merge-error.ts); the message stands in otherwise.
    const step = typeof error.failed === 'string' ? error.failed : error.message;
    return step.startsWith(failed) ? error : new DiskFullError(error.path, `${failed} (${step})`, { cause: error });
  }
  if (!(error instanceof Error) || isLadybugError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  if (code === 'ENOSPC') return new DiskFullError(undefined, `${what} failed`, { cause: error });
  if (isDescriptorCode(code)) return new IoError(`${what} failed: ${error.message}: ${OUT_OF_DESCRIPTORS_ADVICE}`, { cause: error, errno: code });
  return new IoError(`${what} failed: ${error.message}`, { cause: error, errno: code });
}

/**
 * The store has handed out its last version, VERSION_MAX (2^53-1): every write is refused
 * with this error, taking no version and writing nothing; the store is not failed (reads,
 * backups, close and reopen work). A restored backup keeps the versions: copy the current
 * values into a new store to write again (README).
 */
export class VersionSpaceExhaustedError extends LadybugError {
  /** The store's last version (VERSION_MAX). */
  readonly lastVersion: number;
  constructor(lastVersion: number) {
    super(
      ErrorCode.VersionSpaceExhausted,
      `the store's version space is used up: version ${lastVersion} is the last one a commit can have, so nothing more can be committed to this store; ` +
        'it can still be read and backed up: copy its current values (a scan) into a new store to write again (a restored backup keeps the same versions)',
    );
    this.lastVersion = lastVersion;
  }
}

/** On-disk data failed validation somewhere a crash cannot explain. */
export class CorruptionError extends LadybugError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super(ErrorCode.Corruption, `corruption in ${file} at offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
  }
}

/**
 * A file of the store in a format this release does not read: a format version (or a
 * record kind, a codec) it does not know, in bytes whose checksum is valid, so not
 * damage but a file a newer release wrote (a rollback after an upgrade). Nothing was
 * changed: open, repair, verify and scrub refuse the file as it is, never drop or
 * rewrite it. `found` is what the file holds, `supported` what this release reads. A
 * CorruptionError subclass (the store cannot be read as it is) with a code of its own.
 */
export class UnsupportedFormatError extends CorruptionError {
  readonly found: string;
  readonly supported: string;
  constructor(file: string, offset: number, found: string, supported: string) {
    super(file, offset, `${found}, which this release does not read (it reads ${supported}): written by a newer release; nothing was changed, open it with that release`);
    (this as { code: string }).code = ErrorCode.UnsupportedFormat;
    this.message = `unsupported format in ${file} at offset ${offset}: ${found}, which this release does not read (it reads ${supported}): written by a newer release; nothing was changed, open it with that release`;
    this.found = found;
    this.supported = supported;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A key as a message shows it: a JSON string when it has a UTF-8 form (bytes of a binary-encoded scan too), else 0x and its hex. */
function keyForMessage(key: string | Uint8Array): string {
  if (typeof key === 'string') return JSON.stringify(key);
  try {
    return JSON.stringify(strictUtf8.decode(key));
  } catch {
    return `0x${Buffer.from(key).toString('hex')}`;
  }
}

/**
 * An as-of read asked for a version older than the key's retained history. `key` names
 * the key when the read covered many (a scan, dump): a string, or the bytes of a key
 * with no UTF-8 form; undefined for a get (the caller's own key) and for a watch whose
 * `since` is below the store's retention floor (no one key).
 */
export class VersionNotRetainedError extends LadybugError {
  readonly version: number;
  readonly oldestRetained: number;
  readonly key: string | Uint8Array | undefined;
  constructor(version: number, oldestRetained: number, key?: string | Uint8Array) {
    super(ErrorCode.VersionNotRetained, `version ${version} is no longer retained${key === undefined ? '' : ` for key ${keyForMessage(key)}`} (oldest retained: ${oldestRetained})`);
    this.version = version;
    this.oldestRetained = oldestRetained;
    this.key = key;
  }
}

/** Describes a key range a transaction scanned, for error messages. */
export interface ConflictRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

/**
 * A transaction could not commit: a commit after its read version wrote what it
 * read (serializable) or what it writes (snapshot), and its retries ran out.
 * Names the keys and scanned ranges, and the version that won.
 */
export class ConflictError extends LadybugError {
  readonly keys: readonly string[];
  readonly ranges: readonly ConflictRange[];
  readonly winningVersion: number;
  readonly attempts: number;
  constructor(keys: readonly string[], ranges: readonly ConflictRange[], winningVersion: number, attempts: number) {
    const what = [
      ...keys.map((key) => `key ${JSON.stringify(key)}`),
      ...ranges.map((range) => `range ${JSON.stringify(range)}`),
    ].join(', ');
    super(ErrorCode.Conflict, `transaction conflicted after ${attempts} attempt(s): version ${winningVersion} wrote ${what}`);
    this.keys = keys;
    this.ranges = ranges;
    this.winningVersion = winningVersion;
    this.attempts = attempts;
  }
}

/** A transaction object was used after its callback finished. */
export class TransactionClosedError extends LadybugError {
  constructor(operation: string) {
    super(ErrorCode.TransactionClosed, `transaction is finished: cannot ${operation} (use the tx only inside its callback)`);
  }
}

/** A transaction went over a limit: operations, bytes, lifetime, or the conflict log's bound while it ran (see limits.ts). */
export class TransactionLimitError extends LadybugError {
  readonly limit: 'operations' | 'bytes' | 'lifetime' | 'conflictLog';
  constructor(limit: 'operations' | 'bytes' | 'lifetime' | 'conflictLog', message: string) {
    super(ErrorCode.TransactionLimit, message);
    this.limit = limit;
  }
}

/** A snapshot was used after release(). */
export class SnapshotReleasedError extends LadybugError {
  constructor(operation: string) {
    super(ErrorCode.SnapshotReleased, `snapshot was released: cannot ${operation}`);
  }
}

/** A snapshot lived longer than `snapshotMaxAgeMs`; its pin was dropped so old versions could be reclaimed. */
export class SnapshotExpiredError extends LadybugError {
  readonly version: number;
  readonly ageMs: number;
  constructor(version: number, ageMs: number, maxAgeMs: number) {
    super(ErrorCode.SnapshotExpired, `snapshot of version ${version} expired after ${Math.round(ageMs)} ms (snapshotMaxAgeMs ${maxAgeMs})`);
    this.version = version;
    this.ageMs = ageMs;
  }
}

export type LockViolationKind = 'order' | 'reentrant' | 'release-by-non-holder';

/** Debug mode: a lock was taken out of the global order (see LOCK_ORDER.md). */
export class LockOrderViolation extends LadybugError {
  readonly kind: LockViolationKind;
  constructor(kind: LockViolationKind, message: string) {
    super(ErrorCode.LockOrder, message);
    this.kind = kind;
  }
}

/**
 * A lease operation or a fenced write named a token that no longer holds the lease:
 * it expired, was released, force-released, or another owner acquired it since.
 * The caller must acquire again (an expired holder is never revived).
 */
export class LeaseLostError extends LadybugError {
  readonly leaseName: string;
  readonly token: number;
  constructor(leaseName: string, token: number, reason: string) {
    super(ErrorCode.LeaseLost, `lease ${JSON.stringify(leaseName)} is not held with token ${token}: ${reason}`);
    this.leaseName = leaseName;
    this.token = token;
  }
}

/** acquire() found the lease held and its wait (waitMs, default none) ran out. */
export class LeaseBusyError extends LadybugError {
  readonly leaseName: string;
  readonly holder: string;
  constructor(leaseName: string, holder: string, waitedMs: number) {
    super(ErrorCode.LeaseBusy, `lease ${JSON.stringify(leaseName)} is held by ${JSON.stringify(holder)} (waited ${Math.round(waitedMs)} ms)`);
    this.leaseName = leaseName;
    this.holder = holder;
  }
}

/** forceRelease without an `authorize` callback given at open, or the callback said no. */
export class UnauthorizedError extends LadybugError {
  readonly operation: string;
  constructor(operation: string, reason: string) {
    super(ErrorCode.Unauthorized, `${operation} refused: ${reason}`);
    this.operation = operation;
  }
}

/** A watch consumer fell further behind than its bounded buffer (the watch ends; resume with sinceVersion). */
export class WatchOverflowError extends LadybugError {
  readonly lastDeliveredVersion: number;
  constructor(bufferedChanges: number, lastDeliveredVersion: number) {
    super(
      ErrorCode.WatchOverflow,
      `watch consumer is ${bufferedChanges} changes behind, over its buffer; resume with sinceVersion: ${lastDeliveredVersion}`,
    );
    this.lastDeliveredVersion = lastDeliveredVersion;
  }
}

/** An internal invariant did not hold: a bug in the store, never the caller's fault. */
export class AssertionFailedError extends LadybugError {
  constructor(message: string) {
    super(ErrorCode.AssertionFailed, `assertion failed: ${message}`);
  }
}

/**
 * The level adapter (src/level/) met a store value it did not write, under a key it
 * reads as a level key: the store key 0x00 not holding its [empty, zero] pair, or
 * another key holding something other than bytes (written through `db.store`, the
 * Store API). `key` is the store key; the value is left as stored.
 */
export class ForeignValueError extends LadybugError {
  readonly key: Uint8Array;
  constructor(key: Uint8Array, reason: string) {
    super(ErrorCode.ForeignValue, `store key ${Buffer.from(key).toString('hex') || '(empty)'} (hex) holds a value the level adapter did not write: ${reason}`);
    this.key = Uint8Array.from(key);
  }
}

export type BackupFailureReason = 'target-not-empty' | 'incomplete' | 'corrupt' | 'runs-changed' | 'not-a-store';

/**
 * A backup or restore was refused: the target directory is not empty, the backup
 * has no complete BACKUP.json (a backup that crashed or was aborted), a file fails
 * its checksum, or compaction kept replacing the runs being copied (src/backup/); or
 * openStore was given a backup directory, which only restore reads ('not-a-store').
 */
export class BackupError extends LadybugError {
  readonly reason: BackupFailureReason;
  readonly path: string;
  constructor(reason: BackupFailureReason, path: string, detail: string) {
    super(ErrorCode.Backup, `backup ${reason} (${path}): ${detail}`);
    this.reason = reason;
    this.path = path;
  }
}
