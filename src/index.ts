/**
 * ladybug-store: the public surface. Everything not exported here is internal.
 */
export { openStore } from './store/open-store.js';
export type { Store, GetOptions, ScanOptions, HistoryEntry } from './store/store.js';
export type { StoreOptions } from './store/options.js';
export type { StoreStats, RecoveryReport } from './store/stats.js';
export type { CommitResult } from './commit/commit-pipeline.js';
export type { BatchOperation } from './commit/prepare.js';
export type { Key, KeyEncoding } from './codec/keys.js';
export type { FileSystem, FileHandle, OpenMode } from './fs/file-system.js';
export type { RepairReport, TornTail } from './wal/wal-recovery.js';
export {
  ErrorCode,
  LadybugError,
  isLadybugError,
  InvalidKeyError,
  InvalidValueError,
  ValueTooLargeError,
  BatchTooLargeError,
  InvalidOptionError,
  StoreClosedError,
  StoreLockedError,
  StoreFailedError,
  DiskFullError,
  IoError,
  CorruptionError,
  VersionNotRetainedError,
  LockOrderViolation,
  AssertionFailedError,
} from './errors.js';
