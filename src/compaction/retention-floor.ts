/**
 * The store-wide retention floor F (the model is etcd's compaction revision): reads
 * as of a version below F are refused with VersionNotRetainedError for every key;
 * reads at or above F answer as they did before F was raised.
 *
 * Invariants:
 * - F only rises; it starts at the manifest's `retentionFloor` (0 when absent).
 * - F is raised only by compact({ retainFrom }) (compactor.ts), to
 *   min(requested, the oldest pinned version, the manifest's flushedVersion), in one
 *   synchronous step with the pins read: a pin (scan, snapshot, transaction) taken
 *   before is honoured, and every later pin is at the current version, above F.
 *   Capping at flushedVersion keeps every version at or below F in the runs, out of
 *   the memtables' own trimming.
 * - F rises in memory before its manifest edit is durable: a read refused meanwhile
 *   is only refused early (a crash before the edit brings F back down, and nothing
 *   below it was dropped). Compaction drops what only reads below F could see only in
 *   the same manifest edit that records F.
 * - F retains nothing by itself: the entry visible at F (per key, the newest at or
 *   below F) answers only when per-key retention or a pin keeps it, so a version
 *   refused before F rose stays refused (src/engine/resolve.ts, version-gc.ts); reads
 *   never reach below that entry, so compaction drops what is older.
 */
import { VersionNotRetainedError } from '../errors.js';
import { assert } from '../util/assert.js';

export class RetentionFloor {
  #version: number;

  constructor(version: number) {
    assert(Number.isSafeInteger(version) && version >= 0, `retention floor ${version} is a non-negative integer`);
    this.#version = version;
  }

  /** Reads as of a version below this are refused. */
  get version(): number {
    return this.#version;
  }

  /** Raises the floor to `version` (never lowers it); returns the floor now in force. */
  raise(version: number): number {
    assert(Number.isSafeInteger(version) && version >= 0, `retention floor ${version} is a non-negative integer`);
    if (version > this.#version) this.#version = version;
    return this.#version;
  }

  /** Throws VersionNotRetainedError when a read as of `version` is below the floor. */
  check(version: number): void {
    if (version < this.#version) throw new VersionNotRetainedError(version, this.#version);
  }
}

/** The floor a compact({ retainFrom: requested }) may raise to: never above a pin or unflushed data. */
export function reachableFloor(requested: number, pinHorizon: number, flushedVersion: number): number {
  const floor = Math.min(requested, pinHorizon, flushedVersion);
  assert(Number.isSafeInteger(floor) && floor >= 0, `reachable floor ${floor}`);
  return floor;
}
