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
 * - F rises in memory in that step, and the manifest edit that records it starts in
 *   the same step (compactor.ts), before the merge: a compaction cancelled by close(),
 *   one that fails, or a crash during the merge keeps F. A read refused below F is
 *   refused only once that edit is durable (refusal()): a crash before it brings F
 *   back down, and a read refused earlier would answer after the reopen. An edit that
 *   fails (DiskFullError: withdrawn, the store usable) brings F back to the manifest's. stats()
 *   shows the durable F, so it never goes down either. (Until 2026-12-03 F was
 *   written only with the merge's output.) Compaction drops what only reads below F
 *   could see only in a manifest edit after the one that records F.
 * - F retains nothing by itself: the entry visible at F (per key, the newest at or
 *   below F) answers only when per-key retention or a pin keeps it, so a version
 *   refused before F rose stays refused (src/engine/resolve.ts, version-gc.ts); reads
 *   never reach below that entry, so compaction drops what is older.
 */
import { VersionNotRetainedError } from '../errors.js';
import { assert } from '../util/assert.js';

export class RetentionFloor {
  #version: number;
  /** The floor the manifest holds (what a reopen starts from). */
  #durable: number;
  /** The manifest edits recording raises not yet durable (undefined: none). */
  #recording: Promise<void> | undefined;

  constructor(version: number) {
    assert(Number.isSafeInteger(version) && version >= 0, `retention floor ${version} is a non-negative integer`);
    this.#version = version;
    this.#durable = version;
  }

  /** Reads as of a version below this are refused. */
  get version(): number {
    return this.#version;
  }

  /** The floor the manifest holds: at most `version`, never lower than before (stats() reports it). */
  get durableVersion(): number {
    return this.#durable;
  }

  /** Raises the floor to `version` (never lowers it); returns the floor now in force. */
  raise(version: number): number {
    assert(Number.isSafeInteger(version) && version >= 0, `retention floor ${version} is a non-negative integer`);
    if (version > this.#version) this.#version = version;
    return this.#version;
  }

  /**
   * `edit` is the manifest edit recording the floor now in force (started in the step
   * that raised it). Until it and every earlier one settle, refusals wait for them.
   */
  recording(edit: Promise<unknown>): void {
    const version = this.#version;
    const settled = edit.then(
      () => {
        if (version > this.#durable) this.#durable = version;
      },
      (error: unknown) => {
        // Not recorded (a DiskFullError leaves the manifest usable and the edit withdrawn):
        // the floor goes back to what the manifest holds, unless a later raise's edit is
        // still to settle. Reads below it answer again, as they would after a reopen.
        if (this.#version === version) this.#version = this.#durable;
        throw error;
      },
    );
    const previous = this.#recording;
    const all = previous === undefined ? settled : Promise.all([previous, settled]).then(() => undefined);
    this.#recording = all;
    const clear = (): void => {
      if (this.#recording === all) this.#recording = undefined;
    };
    all.then(clear, clear);
  }

  /** Resolves once every raise so far is recorded; rejects with a failed edit's error. */
  async recorded(): Promise<void> {
    await this.#recording;
  }

  /** Throws VersionNotRetainedError when a read as of `version` is below the floor. */
  check(version: number): void {
    if (version < this.#version) throw new VersionNotRetainedError(version, this.#version);
  }

  /**
   * A read as of `version`: undefined at or above the floor, else its refusal
   * (VersionNotRetainedError), which rejects once the edits recording the floor have
   * settled, so no refusal is seen that a crash could take back. When an edit failed
   * and the floor went back below `version`, it resolves instead: the read goes on.
   */
  refusal(version: number): Promise<void> | undefined {
    if (version >= this.#version) return undefined;
    const error = new VersionNotRetainedError(version, this.#version);
    const recording = this.#recording;
    if (recording === undefined) return Promise.reject(error);
    const refuse = (): void => {
      if (version < this.#version) throw error;
    };
    return recording.then(refuse, refuse);
  }
}

/** The floor a compact({ retainFrom: requested }) may raise to: never above a pin or unflushed data. */
export function reachableFloor(requested: number, pinHorizon: number, flushedVersion: number): number {
  const floor = Math.min(requested, pinHorizon, flushedVersion);
  assert(Number.isSafeInteger(floor) && floor >= 0, `reachable floor ${floor}`);
  return floor;
}
