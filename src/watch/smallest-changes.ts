/**
 * The smallest distinct (version, key) positions of a stream offered in any order, in
 * bounded memory: a catch-up pass (catch-up.ts) reads history in key order and keeps the
 * next changes of the feed's (version, key) order.
 *
 * Invariants:
 * - At most 2 x `limit` items, and about 2 x `bytesLimit` bytes (the caller's sizeOf), are
 *   held at once: when either is reached the held items are sorted and cut to the `limit`
 *   smallest distinct ones within `bytesLimit` (at least one).
 * - Once a cut left an item out, every item at or above the last one kept (the ceiling)
 *   is out for good: the result is exactly the smallest items of the whole stream, and
 *   `more` tells that some were left for a later pass.
 */
import { assert } from '../util/assert.js';

/** A position in the feed's order. */
export interface ChangePosition {
  version: number;
  key: string;
}

export function compareChanges(left: ChangePosition, right: ChangePosition): number {
  if (left.version !== right.version) return left.version - right.version;
  return left.key < right.key ? -1 : left.key > right.key ? 1 : 0;
}

export class SmallestChanges<T extends ChangePosition> {
  #held: T[] = [];
  #heldBytes = 0;
  /** Once a cut left an item out: every item at or above this one is out. */
  #ceiling: T | undefined;
  readonly #limit: number;
  readonly #bytesLimit: number;
  readonly #sizeOf: (item: T) => number;
  /** Told the count and bytes held after each item kept (the caller's memory counters). */
  readonly #onHeld: (count: number, bytes: number) => void;

  constructor(limit: number, bytesLimit: number, sizeOf: (item: T) => number, onHeld: (count: number, bytes: number) => void) {
    assert(Number.isSafeInteger(limit) && limit >= 1, 'a catch-up keeps at least one change');
    assert(bytesLimit > 0, 'a catch-up keeps some bytes');
    this.#limit = limit;
    this.#bytesLimit = bytesLimit;
    this.#sizeOf = sizeOf;
    this.#onHeld = onHeld;
  }

  offer(item: T): void {
    if (this.#ceiling !== undefined && compareChanges(item, this.#ceiling) >= 0) return;
    this.#held.push(item);
    this.#heldBytes += this.#sizeOf(item);
    this.#onHeld(this.#held.length, this.#heldBytes);
    if (this.#held.length >= 2 * this.#limit || this.#heldBytes >= 2 * this.#bytesLimit) this.#cut();
  }

  #cut(): void {
    const sorted = this.#held.sort(compareChanges);
    const distinct: T[] = [];
    let bytes = 0;
    let cutShort = false;
    for (const item of sorted) {
      const previous = distinct.at(-1);
      if (previous !== undefined && compareChanges(previous, item) === 0) continue;
      const size = this.#sizeOf(item);
      if (distinct.length === this.#limit || (distinct.length > 0 && bytes + size > this.#bytesLimit)) {
        cutShort = true;
        break;
      }
      distinct.push(item);
      bytes += size;
    }
    this.#held = distinct;
    this.#heldBytes = bytes;
    // Full (by count or by bytes): every item after the last kept waits for a later pass.
    if (cutShort || distinct.length === this.#limit) this.#ceiling = distinct.at(-1);
  }

  /** The smallest items in order, and whether items may remain after them (another pass is needed). */
  take(): { items: T[]; more: boolean } {
    this.#cut();
    assert(this.#held.length <= this.#limit, 'a pass keeps at most its limit');
    return { items: this.#held, more: this.#ceiling !== undefined };
  }
}
