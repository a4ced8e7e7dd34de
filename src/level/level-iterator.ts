/**
 * The level iterator: a store scan as of one version, with the pair slot (see
 * key-slots.ts) expanded into its level keys, and seek() as a fresh scan of the
 * same version from the target.
 *
 * Invariants: every entry comes from `version` (the implicit snapshot taken when
 * the iterator was created, or an explicit snapshot's version), before and after
 * any seek; an implicit snapshot's version is pinned by a store scan of its own
 * (never stepped) until close(), since the scan that reads lets go of its pin at its
 * end or first error, and a seek back after that read a version retention had
 * trimmed (VersionNotRetainedError); an explicit snapshot pins its own; a seek to a
 * target outside the range ends the iterator (abstract-level's contract); entries come
 * out in strict key order (reverse order when reversed) and inside the range.
 * abstract-level counts `limit`, refuses calls after close(), and keeps an explicit
 * snapshot referenced while the iterator is open.
 */
import { AbstractIterator } from 'abstract-level';
import type { Store } from '../store/store.js';
import { assert } from '../util/assert.js';
import {
  type Bound,
  inRange,
  isReservedStoreKey,
  type LevelRange,
  PAIR_SLOT_KEY,
  pairIndex,
  pairKey,
  readLevelValue,
  readPair,
  storeBounds,
  stricterLower,
  stricterUpper,
} from './key-slots.js';

type Entry = [Uint8Array, Uint8Array];
type StoreScan = AsyncIterableIterator<[string | Uint8Array, unknown]>;

export interface LevelIteratorOptions {
  range: LevelRange;
  reverse: boolean;
  keys: boolean;
  values: boolean;
  version: number;
  /** Throws when the explicit snapshot read through has expired (SnapshotExpiredError); absent for an implicit one. */
  checkSnapshot?: () => void;
  /** True for an implicit snapshot: the iterator pins `version` itself until it closes. */
  pinVersion: boolean;
}

const EMPTY_SCAN: StoreScan = (async function* empty() {})();

/**
 * A scan whose first step rejects with `error`: what the iterator holds when the store
 * refused to open its scan (a store closed under the adapter, say). The iterator must
 * still be built: abstract-level counts it among the database's resources as it is
 * constructed, and one left without a scan made every later db.close() fail.
 */
function refusedScan(error: unknown): StoreScan {
  return (async function* refused() {
    throw error;
  })();
}

export class LevelIterator extends AbstractIterator<unknown, Uint8Array, Uint8Array> {
  readonly #store: Store;
  readonly #options: LevelIteratorOptions;
  /** The range after the last seek (the original range at first). */
  #range: LevelRange;
  #scan: StoreScan;
  /** The implicit snapshot's pin: a scan of the pair slot as of `version`, never stepped, ended at close(). */
  readonly #versionPin: StoreScan | undefined;
  /** Level entries from an expanded pair slot not yet returned. */
  #pending: Entry[] = [];
  /**
   * Set by a seek outside the range: the iterator is at its end (abstract-level's seek()
   * contract, as classic-level does) until a seek back into the range. The scan is kept
   * open meanwhile, as it pins `version`.
   */
  #ended = false;

  constructor(db: unknown, store: Store, options: LevelIteratorOptions, abstractOptions: object) {
    super(db, abstractOptions as never);
    this.#store = store;
    this.#options = options;
    this.#range = options.range;
    this.#scan = this.#open(options.range);
    this.#versionPin = options.pinVersion ? this.#pin() : undefined;
  }

  #pin(): StoreScan | undefined {
    try {
      return this.#store.scan({ gte: PAIR_SLOT_KEY, lte: PAIR_SLOT_KEY, asOf: this.#options.version });
    } catch {
      return undefined; // refused (the store closed): #scan is refused too and says so at the first step
    }
  }

  #open(range: LevelRange): StoreScan {
    const bounds = storeBounds(range);
    if (bounds === undefined) return EMPTY_SCAN;
    try {
      return this.#store.scan({ ...bounds, reverse: this.#options.reverse, asOf: this.#options.version });
    } catch (error) {
      return refusedScan(error);
    }
  }

  async _next(): Promise<[Uint8Array | undefined, Uint8Array | undefined] | undefined> {
    this.#options.checkSnapshot?.();
    const entry = await this.#nextEntry();
    if (entry === undefined) return undefined;
    const [key, value] = entry;
    return [this.#options.keys ? key : undefined, this.#options.values ? value : undefined];
  }

  async #nextEntry(): Promise<Entry | undefined> {
    if (this.#ended) return undefined;
    for (;;) {
      const queued = this.#pending.shift();
      if (queued !== undefined) return queued;
      const step = await this.#scan.next();
      if (step.done === true) return undefined;
      const [storeKey, stored] = step.value;
      assert(storeKey instanceof Uint8Array, 'the adapter opens the store with binary keys');
      if (isReservedStoreKey(storeKey)) continue;
      if (pairIndex(storeKey) !== 1) {
        const value = readLevelValue(storeKey, stored);
        assert(value !== undefined, 'a scan returns present entries only');
        return [storeKey, value];
      }
      this.#pending = this.#expand(stored);
    }
  }

  /** The pair slot's level entries that are inside the current range, in iteration order. */
  #expand(stored: unknown): Entry[] {
    const pair = readPair(stored);
    const entries: Entry[] = [];
    for (const index of [0, 1] as const) {
      const value = pair[index];
      const key = pairKey(index);
      if (value !== null && inRange(key, this.#range)) entries.push([key, value]);
    }
    if (this.#options.reverse) entries.reverse();
    return entries;
  }

  _seek(target: unknown): void {
    assert(target instanceof Uint8Array, 'abstract-level hands the adapter a view-encoded seek target');
    const bound: Bound = { key: target, inclusive: true };
    const { range, reverse } = this.#options;
    this.#ended = !inRange(target, range);
    if (this.#ended) return;
    const sought: LevelRange = reverse
      ? { lower: range.lower, upper: stricterUpper(range.upper, bound) }
      : { lower: stricterLower(range.lower, bound), upper: range.upper };
    const previous = this.#scan;
    this.#scan = this.#open(sought);
    this.#range = sought;
    this.#pending = [];
    void previous.return?.();
  }

  async _close(): Promise<void> {
    await Promise.all([this.#scan.return?.(), this.#versionPin?.return?.()]);
  }
}
