/**
 * The interface every benchmarked engine is driven through.
 *
 * An EngineDefinition describes an engine (its settings go verbatim into the
 * report) and loads it; loading throws when the package or module is missing,
 * and the harness then skips the engine with a note. An EngineHandle is one
 * open store on one fresh directory.
 */

/**
 * Keys and values the workloads pass: bytes everywhere, except in the workloads
 * that open the engine with `{ keyType: 'string' }` (strings only).
 */
export type BenchKey = Uint8Array | string;
export type BenchValue = Uint8Array | string;

/** One key/value pair as written by the workloads. */
export interface Entry {
  readonly key: BenchKey;
  readonly value: BenchValue;
}

/**
 * How a workload wants the engine opened: 'binary' (the default: byte keys and
 * values, as in every write workload) or 'string' (string keys and string
 * values with the engine's usual string settings; see stringKeySettings).
 */
export type KeyType = 'binary' | 'string';

export interface OpenOptions {
  readonly keyType: KeyType;
}

/**
 * A read-modify-write over a few keys: gets the current values (undefined for
 * a blind-writes variant, which reads nothing) and returns the new ones, one per key.
 */
export type ReadModifyWrite = (values: readonly (Uint8Array | undefined)[]) => Uint8Array[];

/** The outcome of one `transact` call. */
export interface TransactResult {
  /** Times the body ran (1 + retries); 1 for engines that never retry. */
  readonly attempts: number;
  /** False when the engine gave up (ladybug: ConflictError, code LADYBUG_CONFLICT, after its retries). */
  readonly committed: boolean;
}

/**
 * What a transaction variant guarantees for a read-modify-write:
 * - 'isolated': no lost updates (serializable, or snapshot isolation where
 *   every key read is also written, or execution one transaction at a time);
 * - 'not-isolated': reads and writes are separate calls; concurrent clients can
 *   overwrite each other's updates;
 * - 'blind-writes': writes only, nothing read (a cost baseline, not a transaction).
 */
export type TransactionIsolation = 'isolated' | 'not-isolated' | 'blind-writes';

export interface TransactionVariant {
  /** Shown after the engine id, e.g. "ladybug [serializable]". */
  readonly id: string;
  /** The API calls, stated in the report. */
  readonly description: string;
  readonly isolation: TransactionIsolation;
  /** How concurrent transactions interact (retries, serialization), stated in the report. */
  readonly concurrency: string;
}

/** A forward range read: up to `limit` entries with key >= `gte`. */
export interface ScanRange {
  readonly gte: Uint8Array;
  readonly limit: number;
}

/** Cumulative counters an engine exposes (only numeric fields are kept). */
export type EngineStats = Record<string, number>;

/** What a compaction workload asks of EngineHandle.compact. */
export interface CompactOptions {
  /**
   * Give up as-of reads below the current version first (ladybug: compact({ retainFrom:
   * store.version }), its store-wide retention floor), as the peers keep no old
   * versions at all. Engines without versions ignore it.
   */
  readonly retainFromCurrentVersion?: boolean;
}

export interface EngineHandle {
  /** One durable put: resolves only once the write is synced and visible. */
  put(key: BenchKey, value: BenchValue): Promise<void>;
  /** One atomic durable batch of puts. */
  batch(entries: readonly Entry[]): Promise<void>;
  /** Point read; absent for engines without reads (the raw limit). */
  readonly get?: (key: BenchKey) => unknown;
  /** True when `get` returns the value itself rather than a promise. */
  readonly getIsSynchronous?: boolean;
  /** Range read; resolves with the number of entries read. */
  readonly scan?: (range: ScanRange) => Promise<number>;
  /**
   * One read-modify-write transaction in `variant` (an id of the definition's
   * transactionVariants): reads `keys`, writes `update(values)` to them.
   */
  readonly transact?: (variant: string, keys: readonly Uint8Array[], update: ReadModifyWrite) => Promise<TransactResult>;
  /** Counters for the report (ladybug's store.stats()). */
  readonly stats?: () => EngineStats;
  /** One atomic durable batch of deletes (the delete-heavy workload). */
  readonly deleteBatch?: (keys: readonly BenchKey[]) => Promise<void>;
  /**
   * Makes written data settle before a compaction is measured (ladybug: checkpoint,
   * then waits until no background compaction runs); absent: nothing to do.
   */
  readonly settle?: () => Promise<void>;
  /**
   * Compacts everything now (see EngineDefinition.compactionNote); resolves with
   * engine-specific figures (ladybug: write amplification, runs). Absent: the
   * engine has no compaction to request.
   */
  readonly compact?: (options?: CompactOptions) => Promise<EngineStats>;
  close(): Promise<void>;
}

/**
 * How the "64 concurrent puts" workload drives the engine:
 * - 'in-flight-puts': 64 independent closed-loop workers, each awaiting put();
 * - 'in-flight-puts-run-serially': the same, but the engine's API is synchronous,
 *   so the puts execute one at a time (reported as such);
 * - 'one-append-per-group': 64 records handed over together as one batch
 *   (the raw limit per group of 64: one write + one fdatasync).
 */
export type ConcurrentPutMode = 'in-flight-puts' | 'in-flight-puts-run-serially' | 'one-append-per-group';

export type EngineRole = 'subject' | 'peer' | 'raw-limit';

export interface EngineDefinition {
  /** Stable id used by --engines and in the JSON. */
  readonly id: string;
  /** Human name, e.g. "lmdb-js". */
  readonly label: string;
  readonly role: EngineRole;
  /** Package whose version is reported, if any. */
  readonly packageName?: string;
  /** Durability and tuning settings, stated in the report. */
  readonly settings: readonly string[];
  readonly concurrentPutMode: ConcurrentPutMode;
  /** False for engines that only append (the raw limit): read workloads skip them. */
  readonly supportsReads: boolean;
  /** How this engine behaves under 64 concurrent puts, stated in the report. */
  readonly concurrencyNote: string;
  /**
   * Batch size of the fastest bulk load measured for this engine (the reopen
   * workload writes its records with it); default 10,000.
   */
  readonly bulkLoadBatchSize?: number;
  /** Present if the engine accepts string keys: the settings it is opened with for { keyType: 'string' }. */
  readonly stringKeySettings?: readonly string[];
  /** How the engine runs the transaction workloads, one measured row per variant; absent: not run. */
  readonly transactionVariants?: readonly TransactionVariant[];
  /** What `EngineHandle.compact` does for this engine (or why there is none), stated in the report. */
  readonly compactionNote?: string;
  /** Loads the engine's code; throws if it is not available. */
  load(): Promise<EngineOpener>;
}

/**
 * Opens one store in `directory`: an existing, empty directory, or (for the
 * reopen workload) the directory of a store closed earlier with the same options.
 */
export type EngineOpener = (directory: string, options: OpenOptions) => Promise<EngineHandle>;

/** The bytes of a key or value (UTF-8 for strings), for engines that only take bytes. */
export function asBytes(data: BenchKey | BenchValue): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}
