/**
 * The stable codes of the package's errors (documented in the README, never changed once
 * released), the base class of the store's own failures, and the test for an error of
 * this package. Every error class (argument-errors.ts, errors.ts) takes its code from here;
 * everything is re-exported by src/errors.ts, the one module the rest of the package
 * imports errors from.
 */

export const ErrorCode = {
  InvalidKey: 'LADYBUG_INVALID_KEY',
  InvalidValue: 'LADYBUG_INVALID_VALUE',
  ValueTooLarge: 'LADYBUG_VALUE_TOO_LARGE',
  BatchTooLarge: 'LADYBUG_BATCH_TOO_LARGE',
  InvalidOption: 'LADYBUG_INVALID_OPTION',
  KeyNotUtf8: 'LADYBUG_KEY_NOT_UTF8',
  StoreClosed: 'LADYBUG_STORE_CLOSED',
  StoreLocked: 'LADYBUG_STORE_LOCKED',
  StoreFailed: 'LADYBUG_STORE_FAILED',
  CommitOutcomeUnknown: 'LADYBUG_COMMIT_OUTCOME_UNKNOWN',
  DiskFull: 'LADYBUG_DISK_FULL',
  Io: 'LADYBUG_IO',
  Corruption: 'LADYBUG_CORRUPTION',
  UnsupportedFormat: 'LADYBUG_UNSUPPORTED_FORMAT',
  VersionNotRetained: 'LADYBUG_VERSION_NOT_RETAINED',
  LockOrder: 'LADYBUG_LOCK_ORDER',
  Conflict: 'LADYBUG_CONFLICT',
  TransactionClosed: 'LADYBUG_TRANSACTION_CLOSED',
  TransactionLimit: 'LADYBUG_TRANSACTION_LIMIT',
  SnapshotReleased: 'LADYBUG_SNAPSHOT_RELEASED',
  SnapshotExpired: 'LADYBUG_SNAPSHOT_EXPIRED',
  AssertionFailed: 'LADYBUG_ASSERTION_FAILED',
  LeaseLost: 'LADYBUG_LEASE_LOST',
  LeaseBusy: 'LADYBUG_LEASE_BUSY',
  Unauthorized: 'LADYBUG_UNAUTHORIZED',
  WatchOverflow: 'LADYBUG_WATCH_OVERFLOW',
  Backup: 'LADYBUG_BACKUP',
  LockContended: 'LADYBUG_LOCK_CONTENDED',
  ForeignValue: 'LADYBUG_FOREIGN_VALUE',
  VersionSpaceExhausted: 'LADYBUG_VERSION_SPACE_EXHAUSTED',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of the store's own failures (not API misuse). */
export class LadybugError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True for every error this package throws on purpose (all carry a `code`). */
export function isLadybugError(error: unknown): error is Error & { code: ErrorCodeValue } {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('LADYBUG_');
}
