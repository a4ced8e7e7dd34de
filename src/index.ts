/**
 * ladybug-store: the public surface. Everything not exported here is internal.
 */
export { openStore } from './store/open-store.js';
export type { Store, StoreSnapshot, GetOptions, HistoryEntry } from './store/store.js';
export type { TransactionHandle as Transaction, Isolation, TransactionScanOptions } from './transaction/transaction.js';
export type { TransactionOptions } from './transaction/run-transaction.js';
export type { SerialTransactionHandle as SerialTransaction } from './transaction/serial-transaction.js';
export type { ScanOptions } from './store/read-options.js';
export type { StoreOptions } from './store/options.js';
export type { StoreStats, RecoveryReport, SinceOpenStats, LifetimeStats } from './store/stats.js';
export type { EngineStats } from './engine/engine-stats.js';
export type { CompactionStats, CompactionResult, CompactionProgress } from './compaction/compaction-stats.js';
export type { CompactionPolicyName } from './compaction/compaction-policy.js';
export type { ManifestRecovery } from './manifest/manifest.js';
export type { CompactOptions, StoreCompactionResult } from './store/store-maintenance.js';
export type { CheckpointResult } from './engine/engine-checkpoint.js';
export type { SyncMode } from './fs/node-file-system.js';
export type { ReadSource } from './metrics/recorders.js';
export type { ScrubLocation, ScrubOptions, ScrubReport, ScrubStats } from './stripe/scrub.js';
export type { TierStats } from './engine/storage-engine.js';
export type { StoreMetrics, MetricsOptions } from './metrics/store-metrics.js';
export type { HistogramData } from './metrics/metric-histogram.js';
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
  KeyEncodingError,
  StoreClosedError,
  StoreLockedError,
  LockContendedError,
  StoreFailedError,
  CommitOutcomeUnknownError,
  DiskFullError,
  IoError,
  CorruptionError,
  UnsupportedFormatError,
  VersionNotRetainedError,
  LockOrderViolation,
  ConflictError,
  TransactionClosedError,
  TransactionLimitError,
  SnapshotReleasedError,
  SnapshotExpiredError,
  AssertionFailedError,
  LeaseLostError,
  LeaseBusyError,
  UnauthorizedError,
  WatchOverflowError,
  BackupError,
  ForeignValueError,
  VersionSpaceExhaustedError,
} from './errors.js';
export type { BackupFailureReason, ErrorCodeValue, InvalidKeyReason, ConflictRange, LockViolationKind } from './errors.js';
export { StripeCorruptionError } from './stripe/stripe-errors.js';
export { restoreStoreBackup as restoreBackup, verifyStoreBackup as verifyBackup } from './backup/backup-api.js';
export type { PublicRestoreOptions as RestoreOptions } from './backup/backup-api.js';
export type { BackupOptions, BackupProgress, BackupResult } from './backup/take-backup.js';
export type { BackupVerifyProblem, BackupVerifyReport, RestoreResult } from './backup/restore-backup.js';
export type { RestoreRepair } from './backup/repair-backup-run.js';
export type { LeaseManager, LeaseInfo, LeaseStats, AcquireOptions, HolderOptions, ForceReleaseOptions } from './lease/lease-manager.js';
export type { WriteOptions, LeaseReference } from './lease/write-options.js';
export type { Change, WatchOptions } from './watch/change-feed.js';
