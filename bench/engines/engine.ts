/**
 * The interface every benchmarked engine is driven through.
 *
 * An EngineDefinition describes an engine (its settings go verbatim into the
 * report) and loads it; loading throws when the package or module is missing,
 * and the harness then skips the engine with a note. An EngineHandle is one
 * open store on one fresh directory.
 */

/** One key/value pair as written by the workloads. */
export interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A forward range read: up to `limit` entries with key >= `gte`. */
export interface ScanRange {
  readonly gte: Uint8Array;
  readonly limit: number;
}

/** Cumulative counters an engine exposes (only numeric fields are kept). */
export type EngineStats = Record<string, number>;

export interface EngineHandle {
  /** One durable put: resolves only once the write is synced and visible. */
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** One atomic durable batch of puts. */
  batch(entries: readonly Entry[]): Promise<void>;
  /** Point read; absent for engines without reads (the raw limit). */
  readonly get?: (key: Uint8Array) => unknown;
  /** True when `get` returns the value itself rather than a promise. */
  readonly getIsSynchronous?: boolean;
  /** Range read; resolves with the number of entries read. */
  readonly scan?: (range: ScanRange) => Promise<number>;
  /** Counters for the report (ladybug's store.stats()). */
  readonly stats?: () => EngineStats;
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
  /** Loads the engine's code; throws if it is not available. */
  load(): Promise<EngineOpener>;
}

/** Opens one store in `directory` (an existing, empty directory). */
export type EngineOpener = (directory: string) => Promise<EngineHandle>;
