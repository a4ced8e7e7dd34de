/**
 * openStore options: the public shape, defaults, and validation. Every option is
 * checked here, once, at open; a bad one is an InvalidOptionError naming it.
 */
import { describeValue, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { NodeFileSystem, type SyncMode } from '../fs/node-file-system.js';
import type { KeyEncoding } from '../codec/keys.js';
import {
  KEY_BYTES_MAX,
  LEASE_TTL_MS_MAX_DEFAULT,
  LEASE_TTL_MS_MAX_LIMIT,
  SCRUB_BYTES_PER_SECOND_DEFAULT,
  SCRUB_INTERVAL_MS_MAX,
  MEMORY_BUDGET_BYTES_DEFAULT,
  MEMORY_BUDGET_BYTES_MAX,
  MEMORY_BUDGET_BYTES_MIN,
  WAL_CHECKPOINT_BYTES_DEFAULT,
  WAL_CHECKPOINT_BYTES_MIN,
  TRANSACTION_LIFETIME_MS_DEFAULT,
  TRANSACTION_LIFETIME_MS_MAX,
  SEGMENT_BYTES_DEFAULT,
  SEGMENT_BYTES_MAX,
  SEGMENT_BYTES_MIN,
  VALUE_BYTES_DEFAULT_MAX,
  VALUE_BYTES_MAX_MIN,
  RETAIN_VERSIONS_MS_MAX,
} from '../limits.js';
import { SCRUB_BYTES_PER_SECOND_MAX } from '../stripe/scrub.js';
import { BACKGROUND_THREAD_NICE_DEFAULT, BACKGROUND_THREAD_NICE_MAX } from '../util/thread-priority.js';
import { COMMIT_HEADER_BYTES, PUT_OVERHEAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from '../wal/wal-format.js';

export interface StoreOptions {
  /** Largest encoded value in bytes. Default 16 MiB. */
  maxValueBytes?: number;
  /** Versions kept per key: a positive integer, or Infinity to keep all (default). */
  maxVersionsPerKey?: number;
  /**
   * Retention by age, in ms: every version that was current at some time within the
   * last retainVersionsMs stays readable as of its version, whatever maxVersionsPerKey
   * says. Default: off (maxVersionsPerKey alone decides).
   */
  retainVersionsMs?: number;
  /** WAL segment size in bytes; segments are preallocated. Default 64 MiB. */
  segmentSizeBytes?: number;
  /** How scan() and history() return keys: 'utf8' strings (default) or 'binary' Uint8Arrays. */
  keyEncoding?: KeyEncoding;
  /** Salvage the valid prefix of a corrupt WAL instead of refusing to open. Default false. */
  repair?: boolean;
  /**
   * Where fdatasync runs with the default file system: 'adaptive' (default: on the main
   * thread for a lone commit with nothing queued behind it, else the thread pool),
   * 'threadpool' (never blocks the event loop) or 'inline' (always the main thread).
   * Refused (InvalidOptionError) together with `fileSystem`, which decides its own syncs.
   */
  syncMode?: SyncMode;
  /** The file system to use (tests inject a fault-injecting one). Default: the real one. */
  fileSystem?: FileSystem;
  /** Turn on debug mode (lock-order checks, full consistency checks) for the process. */
  debug?: boolean;
  /** Snapshots older than this expire (their pin is dropped). Default Infinity: never. */
  snapshotMaxAgeMs?: number;
  /** Longest one transaction attempt may run before TransactionLimitError. Default 60 s. */
  transactionLifetimeMs?: number;
  /**
   * Memory the store may use for memtables, the block cache and the runs' index and
   * filter blocks. Default 256 MiB. Data beyond it lives in run files on disk.
   */
  memoryBudgetBytes?: number;
  /** A background checkpoint starts once the WAL grew this much since the last one. Default 64 MiB. */
  walCheckpointBytes?: number;
  /** close() checkpoints, so the next open replays nothing. Default true; false leaves the WAL to replay. */
  checkpointOnClose?: boolean;
  /**
   * Decides store.leases.forceRelease(name, { authorization }): return true to allow.
   * Without it every force release is refused with UnauthorizedError.
   */
  authorize?: (leaseName: string, authorization: unknown) => boolean | Promise<boolean>;
  /** Longest lease TTL in ms that acquire/renew accept. Default 24 h. */
  leaseTtlMsMax?: number;
  /**
   * Runs a background scrub (store.scrub: every run block, the manifest's copies, the
   * WAL's records) this many ms after open and after each pass ends. Default: off.
   */
  scrubIntervalMs?: number;
  /** Read rate of a background scrub pass, bytes per second. Default 32 MiB/s. */
  scrubBytesPerSecond?: number;
  /**
   * How far the merge and compression threads lower their CPU priority (added to the
   * process's niceness, capped at 19), so commits and reads run first on contended
   * cores; not the flush thread. 0 to 19, default 5; 0: off. Linux only (elsewhere, or
   * where the system refuses, they run at the process's priority).
   */
  backgroundThreadNice?: number;
}

export interface ResolvedOptions {
  maxValueBytes: number;
  maxVersionsPerKey: number;
  /** 0: off. */
  retainVersionsMs: number;
  segmentSizeBytes: number;
  keyEncoding: KeyEncoding;
  repair: boolean;
  fileSystem: FileSystem;
  debug: boolean;
  snapshotMaxAgeMs: number;
  transactionLifetimeMs: number;
  memoryBudgetBytes: number;
  walCheckpointBytes: number;
  checkpointOnClose: boolean;
  authorize: ((leaseName: string, authorization: unknown) => boolean | Promise<boolean>) | undefined;
  leaseTtlMsMax: number;
  /** undefined: no background scrub. */
  scrubIntervalMs: number | undefined;
  scrubBytesPerSecond: number;
  backgroundThreadNice: number;
}

const KNOWN_OPTIONS = new Set([
  'maxValueBytes', 'maxVersionsPerKey', 'retainVersionsMs', 'segmentSizeBytes', 'keyEncoding', 'repair', 'syncMode', 'fileSystem', 'debug',
  'snapshotMaxAgeMs', 'transactionLifetimeMs', 'memoryBudgetBytes', 'walCheckpointBytes', 'checkpointOnClose',
  'authorize', 'leaseTtlMsMax', 'scrubIntervalMs', 'scrubBytesPerSecond', 'backgroundThreadNice',
]);

function integerIn(name: string, value: unknown, fallback: number, minimum: number, maximum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new InvalidOptionError(name, `must be an integer, got ${describeValue(value)}`);
  if (value < minimum || value > maximum) throw new InvalidOptionError(name, `must be between ${minimum} and ${maximum}, got ${value}`);
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new InvalidOptionError(name, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
  return value as T;
}

function booleanOption(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be a boolean, got ${describeValue(value)}`);
  return value;
}

function authorizeOption(value: unknown): ResolvedOptions['authorize'] {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidOptionError('authorize', 'must be a function (leaseName, authorization) => boolean');
  return value as ResolvedOptions['authorize'];
}

function versionsPerKey(value: unknown): number {
  if (value === undefined || value === Infinity) return Infinity;
  return integerIn('maxVersionsPerKey', value, Infinity, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * syncMode configures the default file system (NodeFileSystem) only: a given fileSystem
 * syncs as it was built to, so syncMode beside it would be silently ignored; refused instead.
 */
function fileSystemOption(value: unknown, syncMode: SyncMode, syncModeGiven: boolean): FileSystem {
  if (value === undefined) return new NodeFileSystem({ syncMode });
  const candidate = value as Partial<FileSystem>;
  if (typeof candidate !== 'object' || value === null || typeof candidate.open !== 'function' || typeof candidate.syncDirectory !== 'function') {
    throw new InvalidOptionError('fileSystem', 'must implement the FileSystem interface');
  }
  if (syncModeGiven) {
    throw new InvalidOptionError('syncMode', 'applies to the default file system only: a given fileSystem makes its own datasync calls, '
      + 'so syncMode would be ignored; leave out one of the two');
  }
  return value as FileSystem;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'must be an object');
  // Their entries are not own properties: every option in them would be silently ignored.
  if (Array.isArray(options) || options instanceof Map || options instanceof Set) {
    throw new InvalidOptionError('options', `must be a plain object { name: value }, got ${options.constructor.name}`);
  }
  refuseOtherObjectKind('openStore', options);
  const given = options as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!KNOWN_OPTIONS.has(name)) throw new InvalidOptionError(name, 'is not a known option');
  }
  const segmentSizeBytes = integerIn('segmentSizeBytes', given.segmentSizeBytes, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX);
  const defaultValueBytes = Math.min(VALUE_BYTES_DEFAULT_MAX, largestValueFitting(segmentSizeBytes));
  const maxValueBytes = integerIn('maxValueBytes', given.maxValueBytes, defaultValueBytes, VALUE_BYTES_MAX_MIN, VALUE_BYTES_DEFAULT_MAX);
  if (maxValueBytes > largestValueFitting(segmentSizeBytes)) {
    throw new InvalidOptionError('maxValueBytes', `${maxValueBytes} does not fit a WAL segment of ${segmentSizeBytes} bytes with its framing`);
  }
  const syncMode = oneOf('syncMode', given.syncMode, ['adaptive', 'threadpool', 'inline'] as const, 'adaptive');
  return {
    maxValueBytes,
    maxVersionsPerKey: versionsPerKey(given.maxVersionsPerKey),
    retainVersionsMs: integerIn('retainVersionsMs', given.retainVersionsMs, 0, 0, RETAIN_VERSIONS_MS_MAX),
    segmentSizeBytes,
    keyEncoding: oneOf('keyEncoding', given.keyEncoding, ['utf8', 'binary'] as const, 'utf8'),
    repair: booleanOption('repair', given.repair),
    fileSystem: fileSystemOption(given.fileSystem, syncMode, given.syncMode !== undefined),
    debug: booleanOption('debug', given.debug),
    snapshotMaxAgeMs: given.snapshotMaxAgeMs === Infinity
      ? Infinity
      : integerIn('snapshotMaxAgeMs', given.snapshotMaxAgeMs, Infinity, 1, 2 ** 31 - 1),
    transactionLifetimeMs: integerIn('transactionLifetimeMs', given.transactionLifetimeMs, TRANSACTION_LIFETIME_MS_DEFAULT, 1, TRANSACTION_LIFETIME_MS_MAX),
    memoryBudgetBytes: integerIn('memoryBudgetBytes', given.memoryBudgetBytes, MEMORY_BUDGET_BYTES_DEFAULT, MEMORY_BUDGET_BYTES_MIN, MEMORY_BUDGET_BYTES_MAX),
    checkpointOnClose: given.checkpointOnClose === undefined ? true : booleanOption('checkpointOnClose', given.checkpointOnClose),
    authorize: authorizeOption(given.authorize),
    leaseTtlMsMax: integerIn('leaseTtlMsMax', given.leaseTtlMsMax, LEASE_TTL_MS_MAX_DEFAULT, 1, LEASE_TTL_MS_MAX_LIMIT),
    scrubIntervalMs: given.scrubIntervalMs === undefined ? undefined : integerIn('scrubIntervalMs', given.scrubIntervalMs, 0, 1, SCRUB_INTERVAL_MS_MAX),
    scrubBytesPerSecond: integerIn('scrubBytesPerSecond', given.scrubBytesPerSecond, SCRUB_BYTES_PER_SECOND_DEFAULT, 1, SCRUB_BYTES_PER_SECOND_MAX),
    walCheckpointBytes: integerIn('walCheckpointBytes', given.walCheckpointBytes, WAL_CHECKPOINT_BYTES_DEFAULT, WAL_CHECKPOINT_BYTES_MIN, Number.MAX_SAFE_INTEGER),
    backgroundThreadNice: integerIn('backgroundThreadNice', given.backgroundThreadNice, BACKGROUND_THREAD_NICE_DEFAULT, 0, BACKGROUND_THREAD_NICE_MAX),
  };
}

/**
 * For a method that takes no options (snapshot, checkpoint, stats): an argument other
 * than undefined is refused, not ignored, since its caller believes it does something
 * (snapshot({ asOf }), checkpoint({ force: true })). `instead` says what does.
 */
export function refuseOptions(method: string, options: unknown, instead: string): void {
  if (options !== undefined) throw new InvalidOptionError('options', `${method}() takes no options, got ${describeArgument(options)}: ${instead}`);
}

function describeArgument(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (Array.isArray(value)) return 'an array';
  const names = Object.keys(value);
  return names.length === 0 ? 'an object' : `an object with ${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''}`;
}

/** The largest value a single-put commit can carry in one record of an empty segment. */
function largestValueFitting(segmentSizeBytes: number): number {
  return segmentSizeBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - COMMIT_HEADER_BYTES - PUT_OVERHEAD_BYTES - KEY_BYTES_MAX;
}

/** Largest commit (operations bytes) that fits one record in an empty segment. */
export function commitBytesLimit(segmentSizeBytes: number): number {
  return segmentSizeBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - COMMIT_HEADER_BYTES;
}
