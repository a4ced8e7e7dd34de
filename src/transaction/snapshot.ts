/**
 * A pinned, read-only view of the store as of one version.
 *
 * The version is read and pinned in one synchronous step (so no commit can trim it
 * in between: the source system's epoch race, number 7, cannot occur), and stays
 * pinned until release(), `await using` disposal, or expiry. With
 * `snapshotMaxAgeMs` set, a snapshot older than that is expired: its pin is
 * dropped when the age is reached (old versions become reclaimable again, which
 * is the point) and its next use throws SnapshotExpiredError.
 */
import { SnapshotExpiredError, SnapshotReleasedError } from '../errors.js';
import { internalKey, type Key, type KeyEncoding } from '../codec/keys.js';
import { readStored } from '../codec/values.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { ReadView } from '../engine/read-view.js';
import { type HistoryEntry, historyEntries } from '../memory/history.js';
import type { ReadPins } from '../memory/read-pins.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { readOptions } from '../store/read-options.js';
import { type PinHandle, ScanIterator, type ScanEntry, stopScans } from '../store/scan-iterator.js';

export interface SnapshotContext {
  /** The sources as of the snapshot's creation. */
  view: ReadView;
  pins: ReadPins;
  keyEncoding: KeyEncoding;
  maxAgeMs: number;
  checkOpen: () => void;
  /** The store handle's scan-step count: a loop of snapshot scans lets a compaction in flight install (event-loop-turns.ts). */
  scanTurnDue?: () => boolean;
}

export interface SnapshotScanOptions {
  range: KeyRange;
  reverse: boolean;
  limit: number;
}

export class Snapshot {
  readonly version: number;
  /** The context but its view (held in #view only while pinned). */
  readonly #context: Omit<SnapshotContext, 'view'>;
  readonly #createdAtMs = performance.now();
  readonly #expiry: NodeJS.Timeout | undefined;
  #state: 'pinned' | 'released' | 'expired' = 'pinned';
  /**
   * The context's view while pinned, held (engine/memtable-holds.ts: its memtables stay
   * counted after their flush); let go with the pin, so a released or expired snapshot
   * the application still references keeps no memtable alive.
   */
  #view: ReadView | undefined;
  /** Its open scans: stopped when it is released or expires, so none keeps its version pinned past that. */
  readonly #scans = new Set<PinHandle>();

  constructor(context: SnapshotContext, version: number) {
    // The context but its view, field by field (a rest spread was a generic copy per snapshot).
    const { pins, keyEncoding, maxAgeMs, checkOpen, scanTurnDue } = context;
    this.#context = scanTurnDue === undefined ? { pins, keyEncoding, maxAgeMs, checkOpen } : { pins, keyEncoding, maxAgeMs, checkOpen, scanTurnDue };
    this.version = version;
    pins.pin(version);
    this.#view = context.view;
    this.#view.hold();
    if (Number.isFinite(context.maxAgeMs)) {
      this.#expiry = setTimeout(() => this.#expire(), context.maxAgeMs);
      this.#expiry.unref();
    }
  }

  #expire(): void {
    if (this.#state !== 'pinned') return;
    this.#state = 'expired';
    this.#context.pins.unpin(this.version);
    this.#letGoOfView();
  }

  #letGoOfView(): void {
    stopScans(this.#scans);
    this.#view?.unhold();
    this.#view = undefined;
  }

  /** Throws unless the snapshot is pinned (then its view is held). */
  #check(operation: string): void {
    this.#context.checkOpen();
    if (this.#state === 'pinned' && performance.now() - this.#createdAtMs > this.#context.maxAgeMs) this.#expire();
    if (this.#state === 'released') throw new SnapshotReleasedError(operation);
    if (this.#state === 'expired') {
      throw new SnapshotExpiredError(this.version, performance.now() - this.#createdAtMs, this.#context.maxAgeMs);
    }
  }

  /** `options` takes no names (asOf does not apply): any given is refused, not ignored. */
  async get(key: Key, options?: Record<string, never>): Promise<unknown> {
    this.#check('get');
    readOptions('snapshot.get', options);
    let slot: VersionSlot | undefined;
    try {
      slot = await this.#view!.slotAsOf(internalKey(key), { version: this.version, referenceVersion: this.version, pinFloor: this.#context.pins.oldest() });
    } catch (error) {
      throw this.#readFailure(error, 'get');
    }
    return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
  }

  /**
   * A disk read failed: if the store closed or the snapshot was released or expired
   * meanwhile, that is the error (close() closes the run files under a read: EBADF, not a
   * failing disk); else the read's own.
   */
  #readFailure(error: unknown, operation: string): unknown {
    try {
      this.#check(operation);
    } catch (ended) {
      return ended;
    }
    return error;
  }

  /** REQUIRES: options validated by the store (see Store#snapshot). */
  scanWith(options: SnapshotScanOptions): AsyncIterableIterator<ScanEntry> {
    this.#check('scan');
    const { pins, keyEncoding, scanTurnDue } = this.#context;
    return new ScanIterator({
      view: this.#view!, pins, keyEncoding, version: this.version, referenceVersion: this.version, ...options,
      checkOpen: () => this.#check('scan'),
      openScans: this.#scans,
      ...(scanTurnDue === undefined ? {} : { turnDue: scanTurnDue }),
    });
  }

  /**
   * The key's retained versions at or below this snapshot's version, newest first: the
   * newest maxVersionsPerKey there, which its own pin keeps (version-chain.ts trim,
   * version-gc.ts). Not what older pins keep too: those go when they are released, and
   * a snapshot's history must not change while it is held.
   */
  async history(key: Key, limit = Infinity): Promise<HistoryEntry[]> {
    this.#check('history');
    try {
      return historyEntries(await this.#view!.history(internalKey(key), this.version, this.version, Infinity, limit));
    } catch (error) {
      throw this.#readFailure(error, 'history');
    }
  }

  /** Releases the pin. Idempotent; later use throws SnapshotReleasedError. */
  async release(): Promise<void> {
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    if (this.#state === 'pinned') {
      this.#context.pins.unpin(this.version);
      this.#letGoOfView();
    }
    this.#state = 'released';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
