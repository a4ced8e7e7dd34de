/**
 * Subscriber: one watch feed's live buffer. The commit pipeline offers each commit's
 * operations (WatchHub's listener, in commit order); the feed takes them in order.
 *
 * Invariants: the buffered changes are in (version, key) order; the bytes counted are the
 * sum of the buffered changes' (their values' memory estimate and key); past
 * WATCH_BUFFER_CHANGES_MAX changes, or WATCH_BUFFER_BYTES_MAX bytes beyond the oldest
 * buffered commit's, the buffer is dropped and `failure` holds the WatchOverflowError
 * (with the version to resume from); nothing past the feed's untilVersion is buffered;
 * a buffered value holds its own bytes, never a value slab shared with other values
 * (ownedSlots), so the bytes counted are what the buffer keeps alive.
 */
import { WatchOverflowError } from '../errors.js';
import { WATCH_BUFFER_BYTES_MAX, WATCH_BUFFER_CHANGES_MAX } from '../limits.js';
import { storedSizeBytes } from '../codec/value-memory-size.js';
import { EncodedValue } from '../codec/value-slabs.js';
import type { IndexOperation, KeyRange } from '../memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { keyInRange } from '../transaction/conflict-log.js';
import { assert } from '../util/assert.js';
import { RESERVED_KEY_PREFIX } from '../lease/lease-record.js';
import { compareChanges, type RawChange } from './catch-up.js';

/**
 * The slots of a commit's operations as a watcher's buffer keeps them (`operations[index]`'s
 * slot): an encoding that lies in a larger shared array is copied out, once per commit for
 * every watcher: a byte value carved from a 64 KiB value slab (codec/value-slabs.ts), an
 * encoded object in msgpackr's 8 KiB output buffer. Buffered as it was, it kept that whole
 * array alive after its memtable was dropped (a watcher that stopped reading a narrow range
 * held one slab per change: 640 MiB at the 10,000-change bound, or 80 MiB of output buffers,
 * for values counted at a few bytes each), and the slab could never be reused.
 */
export function ownedSlots(operations: readonly IndexOperation[]): (index: number) => VersionSlot {
  let copies: Array<VersionSlot | undefined> | undefined;
  return (index) => {
    const slot = operations[index]!.slot;
    if (!(slot instanceof EncodedValue) || slot.source.buffer.byteLength === slot.length) return slot;
    copies ??= [];
    // Uint8Array#slice copies (Buffer#slice would be another view of the shared array).
    return (copies[index] ??= new EncodedValue(Uint8Array.prototype.slice.call(slot.bytes)));
  };
}

/** A change in a watcher's live buffer, with the bytes it is counted for: its value's memory estimate and its key. */
interface BufferedChange extends RawChange {
  bytes: number;
}

export class Subscriber {
  readonly buffer: BufferedChange[] = [];
  /** The bytes of every change in `buffer`. */
  #bytes = 0;
  failure: Error | undefined;
  wake: (() => void) | undefined;
  readonly #range: KeyRange;
  readonly #includeReserved: boolean;
  /** The feed's untilVersion: once it is visible a waiting feed ends, whatever the commit holds. */
  readonly #untilVersion: number | undefined;
  /** The newest version delivered (at first: where the feed starts, sinceVersion or the start version). */
  lastDeliveredVersion = 0;
  /** Changes buffered when the buffer overflowed (the WatchOverflowError's count). */
  #overflowedChanges = 0;

  constructor(range: KeyRange, includeReserved: boolean, untilVersion: number | undefined) {
    this.#range = range;
    this.#includeReserved = includeReserved;
    this.#untilVersion = untilVersion;
  }

  /**
   * The version to resume from: the last delivered one, or the one before it when
   * that commit was delivered only in part (resuming after it would skip the rest).
   */
  #resumeVersion(partlyDelivered: boolean): number {
    return partlyDelivered ? this.lastDeliveredVersion - 1 : this.lastDeliveredVersion;
  }

  /** REQUIRES: overflowed. The overflow error when `next` (in the catch-up) is the first change not delivered. */
  overflowBefore(next: RawChange): WatchOverflowError {
    assert(this.failure !== undefined, 'the buffer overflowed');
    return new WatchOverflowError(this.#overflowedChanges, this.#resumeVersion(next.version === this.lastDeliveredVersion));
  }

  accepts(key: string): boolean {
    return keyInRange(key, this.#range) && (this.#includeReserved || !key.startsWith(RESERVED_KEY_PREFIX));
  }

  /** `slotAt` answers operation i's slot as the buffer keeps it (ownedSlots). */
  offer(version: number, operations: readonly IndexOperation[], slotAt: (index: number) => VersionSlot): void {
    if (this.failure !== undefined) return;
    if (this.#untilVersion !== undefined && version > this.#untilVersion) {
      // Never delivered (the feed ends before them): buffered, they overflowed a feed still
      // catching up to its untilVersion. A waiting feed wakes to end.
      this.wake?.();
      return;
    }
    const start = this.buffer.length;
    for (let index = 0; index < operations.length; index++) {
      const { key } = operations[index]!;
      if (!this.accepts(key)) continue;
      // Kept past the memtable's drop, maybe: its own bytes, not the commit's value slab.
      const slot = slotAt(index);
      const bytes = key.length + (slot === TOMBSTONE ? 0 : storedSizeBytes(slot));
      this.buffer.push({ version, key, slot, bytes });
      this.#bytes += bytes;
    }
    if (this.buffer.length === start) {
      // Nothing of this feed's, but nothing at or below its untilVersion can come after it:
      // a feed waiting for a commit in its range would otherwise wait past its end.
      if (version === this.#untilVersion) this.wake?.();
      return;
    }
    // The bytes bound counts what is buffered beyond the oldest buffered commit: a consumer
    // one commit behind never overflows by that commit's size (bounded by the WAL segment).
    if (this.buffer.length > WATCH_BUFFER_CHANGES_MAX || (this.#bytes > WATCH_BUFFER_BYTES_MAX && this.#bytes - this.#oldestCommitBytes() > WATCH_BUFFER_BYTES_MAX)) {
      this.#overflowedChanges = this.buffer.length;
      const partial = this.buffer.some((change) => change.version === this.lastDeliveredVersion);
      this.failure = new WatchOverflowError(this.#overflowedChanges, this.#resumeVersion(partial));
      this.clear();
    } else if (this.buffer.length - start > 1) {
      const added = this.buffer.splice(start).sort(compareChanges);
      this.buffer.push(...added);
    }
    this.wake?.();
  }

  /** The bytes of the buffered changes of the oldest buffered commit (a walk of at most WATCH_BUFFER_CHANGES_MAX changes, only past the bytes bound). */
  #oldestCommitBytes(): number {
    const oldest = this.buffer[0]?.version;
    let bytes = 0;
    for (const change of this.buffer) {
      if (change.version !== oldest) break;
      bytes += change.bytes;
    }
    return bytes;
  }

  /** The version of the oldest buffered change (undefined when none is buffered). */
  nextVersion(): number | undefined {
    return this.buffer[0]?.version;
  }

  /** The oldest buffered change, taken out of the buffer. */
  take(): RawChange | undefined {
    const change = this.buffer.shift();
    if (change === undefined) return undefined;
    this.#bytes -= change.bytes;
    assert(this.#bytes >= 0 && (this.buffer.length > 0 || this.#bytes === 0), 'the buffered bytes are the sum of the buffered changes');
    return change;
  }

  /** Drops every buffered change (an overflow, or the feed ended: a finished generator must not keep them). */
  clear(): void {
    this.buffer.length = 0;
    this.#bytes = 0;
  }
}
