/**
 * The public face of a snapshot (store.snapshot()): the store's read methods and
 * options over a Snapshot (src/transaction/snapshot.ts), which holds the read pin.
 *
 * Invariants:
 * - The pin is released exactly once: by release() (or `await using`), or, for a
 *   handle dropped without it, by the FinalizationRegistry when it is collected;
 *   release() unregisters the handle first, so the registry never releases it again.
 * - A scan iterator keeps its handle reachable: the handle is collected (and the pin
 *   released) only once no scan of it can still be iterated.
 * - Every read is as of the snapshot's one version; options are checked as the
 *   store's are (src/store/read-options.ts), with 'snapshot.*' in their errors.
 */
import type { Key } from '../codec/keys.js';
import type { HistoryEntry } from '../memory/history.js';
import type { Snapshot } from '../transaction/snapshot.js';
import { limitOption, readOptions, scanBounds, type ScanOptions } from './read-options.js';

/** The property by which a snapshot's scan iterator holds its handle (see scan()). */
const scanOwner: unique symbol = Symbol('ladybug.snapshotScanOwner');

/** A snapshot dropped without release() releases its pin when garbage-collected. */
const forgottenSnapshots = new FinalizationRegistry<Snapshot>((snapshot) => void snapshot.release());

/** The public face of a Snapshot: the same read methods and options as the store. */
export class StoreSnapshot {
  readonly #snapshot: Snapshot;

  constructor(snapshot: Snapshot) {
    this.#snapshot = snapshot;
    forgottenSnapshots.register(this, snapshot, this);
  }

  get version(): number {
    return this.#snapshot.version;
  }

  get(key: Key, options?: Record<string, never>): Promise<unknown> {
    return this.#snapshot.get(key, options);
  }

  scan(options?: Omit<ScanOptions, 'asOf'>): AsyncIterableIterator<[string | Uint8Array, unknown]> {
    const iterator = this.#snapshot.scanWith(scanBounds('snapshot.scan', options));
    // The iterator keeps this handle reachable: collected mid-scan, it would release the snapshot under the scan.
    Object.defineProperty(iterator, scanOwner, { value: this });
    return iterator;
  }

  async history(key: Key, options?: { limit?: number }): Promise<HistoryEntry[]> {
    return this.#snapshot.history(key, limitOption(readOptions('snapshot.history', options)?.limit));
  }

  release(): Promise<void> {
    forgottenSnapshots.unregister(this);
    return this.#snapshot.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
