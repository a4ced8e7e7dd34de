/**
 * The store's read methods (store.get, history, scan): each answered from a read
 * view of the storage engine (memtables and runs, src/engine/read-view.ts) as of
 * one version.
 *
 * Invariants:
 * - A read is refused with StoreClosedError unless the store is open, checked first
 *   (the handle's open check, src/store/store.ts); a scan checks again at each batch.
 *   A disk read that fails is checked again: closed meanwhile, StoreClosedError replaces
 *   the read's error (close() closes the run files under it: EBADF).
 * - A read sees every write acknowledged before it started: its reference version is
 *   the visible version when it is called.
 * - A version below the retention floor is refused with VersionNotRetainedError
 *   before anything is pinned (a scan's at its first next()).
 * - Reads keep working while the store is failed: they only see acknowledged data.
 */
import { VersionNotRetainedError } from '../errors.js';
import type { RetentionFloor } from '../compaction/retention-floor.js';
import { internalKey, type Key } from '../codec/keys.js';
import { readStored } from '../codec/values.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { type HistoryEntry, historyEntries } from '../memory/history.js';
import { ScanIterator } from './scan-iterator.js';
import { asOfOption, limitOption, readOptions, scanBounds, type ScanOptions } from './read-options.js';
import { EventLoopTurns, nextEventLoopTurn, SCAN_STEPS_PER_EVENT_LOOP_TURN } from './event-loop-turns.js';
import type { GetOptions, StoreParts } from './store.js';

/** What a get answers for a slot: undefined for absent or deleted, else the value (a fresh copy of a mutable one). */
function valueOfSlot(slot: VersionSlot | undefined): unknown {
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}

/** A get's answer once the event loop has turned (every GETS_PER_EVENT_LOOP_TURN-th get while a compaction is in flight: event-loop-turns.ts); decoded before the wait. */
function afterEventLoopTurn(value: unknown): Promise<unknown> {
  return nextEventLoopTurn().then(() => value);
}

/** The read methods of one store handle (src/store/store.ts delegates get, history and scan here). */
export class StoreReads {
  readonly #parts: StoreParts;
  readonly #assertOpen: (operation: string) => void;
  /** A loop of awaited gets lets a compaction in flight install (event-loop-turns.ts). */
  readonly #getTurns = new EventLoopTurns();
  /** A loop of scans does too: every scan of this handle counts its steps here (event-loop-turns.ts). */
  readonly #scanTurns = new EventLoopTurns(SCAN_STEPS_PER_EVENT_LOOP_TURN);
  /** One function for every scan (no closure per scan): true when a scan step should wait for a turn. */
  readonly #scanTurnDue = (): boolean => this.#parts.engine.compactor.inFlight && this.#scanTurns.due();

  /** For snapshot scans of this handle: they count their steps with the store's own scans. */
  get scanTurnDue(): () => boolean {
    return this.#scanTurnDue;
  }

  constructor(parts: StoreParts, assertOpen: (operation: string) => void) {
    this.#parts = parts;
    this.#assertOpen = assertOpen;
  }

  /**
   * Not an async function (issue 7): an answer found without I/O is resolved at once,
   * one promise per get; an async function also made its generator object and
   * register file on every call. A refusal still rejects, never throws.
   */
  get(key: Key, options?: GetOptions): Promise<unknown> {
    try {
      this.#assertOpen('get');
      const internal = internalKey(key);
      const { pipeline } = this.#parts;
      const version = options === undefined ? pipeline.visibleVersion : asOfOption(readOptions('store.get', options)?.asOf, pipeline.visibleVersion);
      // Below the retention floor: refused once the floor is durable (retention-floor.ts).
      const refusal = this.#parts.engine.compactor.retentionFloor.refusal(version);
      // Resolved: the floor's edit failed and the floor went back, the read goes on.
      if (refusal !== undefined) return refusal.then(() => this.get(key, options));
      const found = this.#parts.engine.view().slotAsOf(internal, { version, referenceVersion: pipeline.visibleVersion, pinFloor: this.#parts.pins.readFloor() });
      // From disk: a failure is checked against the store's state once it settles (#readFailure).
      const answer = found instanceof Promise ? found.then(valueOfSlot, (error: unknown) => this.#readFailure(error, 'get')) : Promise.resolve(valueOfSlot(found));
      return this.#parts.engine.compactor.inFlight && this.#getTurns.due() ? answer.then(afterEventLoopTurn) : answer;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async history(key: Key, options?: { limit?: number }): Promise<HistoryEntry[]> {
    this.#assertOpen('history');
    const limit = limitOption(readOptions('store.history', options)?.limit);
    const version = this.#parts.pipeline.visibleVersion;
    try {
      return historyEntries(await this.#parts.engine.view().history(internalKey(key), version, version, this.#parts.pins.readFloor(), limit));
    } catch (error) {
      throw this.#readFailure(error, 'history');
    }
  }

  /**
   * A disk read failed: if the store closed meanwhile, StoreClosedError (close() closes the
   * run files under a read: EBADF, not a failing disk); else the read's own error. A read
   * that succeeded answers whatever happened meanwhile, as before.
   */
  #readFailure(error: unknown, operation: string): never {
    this.#assertOpen(operation);
    throw error;
  }

  scan(options?: ScanOptions): AsyncIterableIterator<[string | Uint8Array, unknown]> {
    this.#assertOpen('scan');
    const bounds = scanBounds('store.scan', options);
    const { engine, pins, pipeline } = this.#parts;
    const version = asOfOption(options?.asOf, pipeline.visibleVersion);
    // Below the retention floor: refused at the first next(), as a retention miss is, and never pinned.
    if (version < engine.compactor.retentionFloor.version) return refusedScan(engine.compactor.retentionFloor, version, () => this.scan(options));
    return new ScanIterator({
      view: engine.view(),
      referenceVersion: pipeline.visibleVersion,
      pins,
      ...bounds,
      version,
      keyEncoding: this.#parts.options.keyEncoding,
      checkOpen: () => this.#assertOpen('scan'),
      turnDue: this.#scanTurnDue,
    });
  }
}

/**
 * A scan as of a version below the retention floor: its first next() throws
 * VersionNotRetainedError, or, when the floor's edit failed and the floor went back
 * below `version` meanwhile (RetentionFloor#refusal resolved), it is the scan `scan()` makes then.
 */
async function* refusedScan(floor: RetentionFloor, version: number, scan: () => AsyncIterableIterator<[string | Uint8Array, unknown]>): AsyncGenerator<[string | Uint8Array, unknown]> {
  await floor.refusal(version);
  if (version < floor.version) throw new VersionNotRetainedError(version, floor.version);
  yield* scan();
}
