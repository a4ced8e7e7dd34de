/**
 * The ascending tail of a memtable (src/memory/memory-index.ts): the keys that arrived
 * above every key before them and are not in its Map yet. They are the last `length`
 * keys of the index's waiting keys (`keys` below, which the index owns), ascending;
 * the tail holds their chains in the same order.
 *
 * A point read of a key in the tail finds it by binary search, and moves up to
 * TAIL_KEYS_MOVED_PER_READ keys from the tail's front into the Map first: a memtable
 * that is read pays the Map inserts the writes skipped, in bounded steps (0.4-0.6 µs a
 * key measured alone: 1,024 keys add about half a millisecond to one read), and its
 * reads are hash lookups again once the tail is gone (a binary search of a 100,000-key tail measured
 * 14-48% more CPU per get than the Map, 3 alternated runs, busy machine).
 *
 * Invariants: the tail's keys ascend strictly and lie above every key of the Map, none
 * of them in it; keys move into the Map in key order, so its insertion order stays the
 * keys' order; a chains array handed out (chainsInOrder) is never changed in place.
 */
import { assert } from '../util/assert.js';
import type { VersionChain } from './version-chain.js';

/** Keys a point read in the tail moves into the Map before it looks (see the module header). */
export const TAIL_KEYS_MOVED_PER_READ = 1024;

export class AscendingTail {
  /** The chains, [moved, length) still in the tail; [0, moved) already in the Map. */
  #chains: VersionChain[] = [];
  #moved = 0;

  /** Keys in the tail. */
  get length(): number {
    return this.#chains.length - this.#moved;
  }

  /** A key above every key held joined `keys`: its chain joins the tail. */
  push(chain: VersionChain): void {
    this.#chains.push(chain);
  }

  /** The index of the tail's first key among `keys` (the waiting keys). */
  start(keys: readonly string[]): number {
    const start = keys.length - this.length;
    assert(start >= 0, 'the tail is the last of the waiting keys');
    return start;
  }

  /** The chain of `key` in the tail, by binary search, or undefined. REQUIRES: `key` is not below the tail's first key. */
  find(keys: readonly string[], key: string): VersionChain | undefined {
    const start = keys.length - this.length;
    let low = start;
    let high = keys.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = keys[middle]!;
      if (found < key) low = middle + 1;
      else if (found > key) high = middle - 1;
      else return this.#chains[this.#moved + middle - start];
    }
    return undefined;
  }

  /** Moves up to `count` keys from the tail's front into `map`, in key order (all of them by default). */
  moveInto(map: Map<string, VersionChain>, keys: readonly string[], count = Infinity): void {
    const start = this.start(keys);
    const moving = Math.min(count, this.length);
    const chains = this.#chains;
    for (let index = 0; index < moving; index++) map.set(keys[start + index]!, chains[this.#moved + index]!);
    this.#moved += moving;
    if (this.#moved === chains.length) {
      // Replaced, not emptied in place: a flush may hold the array (chainsInOrder).
      this.#chains = [];
      this.#moved = 0;
    }
  }

  /** The tail's chains in key order; the caller must not change the array. */
  chainsInOrder(): readonly VersionChain[] {
    return this.#moved === 0 ? this.#chains : this.#chains.slice(this.#moved);
  }

  /** Debug check: the tail ascends above `mapGreatest` (the Map's greatest key, '' if empty), outside the Map. */
  verify(map: ReadonlyMap<string, VersionChain>, keys: readonly string[], mapGreatest: string): void {
    let previous = mapGreatest;
    for (let index = this.start(keys); index < keys.length; index++) {
      const key = keys[index]!;
      assert(key > previous && !map.has(key), 'the tail ascends above every key of the Map, outside it');
      previous = key;
    }
  }
}
