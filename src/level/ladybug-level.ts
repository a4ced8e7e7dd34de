/**
 * LadybugLevel: an abstract-level 3.x database over the store's public API
 * (openStore and Store), so `level`-based code (sublevels, encodings, hooks,
 * events, iterators) runs on a ladybug store.
 *
 * The store is opened with binary keys; the adapter's only storage format is
 * `view` (Uint8Array keys and values), and abstract-level transcodes every other
 * encoding to it. Keys map onto store keys one to one except the empty key and
 * the key 0x00, which share the store's "pair slot" (see key-slots.ts), so the
 * whole 1,024-byte key limit (KEY_BYTES_MAX) stays available and the empty key
 * works. A write that touches the pair slot runs as a store transaction (read,
 * modify, write, retried on conflict); every other write is one store batch, so
 * every level write, batches included, is atomic.
 *
 * Invariants: reads with an explicit snapshot read as of its version, which its
 * store snapshot pins until the level snapshot closes; iterators read as of the
 * version current when they were created (implicit snapshots); the store is open
 * exactly while the level database is 'open' (abstract-level sequences open and
 * close, and closes iterators and snapshots before _close), except after a store close()
 * that failed: the database is 'open' again with that store, and close() retries it.
 */
import { AbstractLevel, AbstractSnapshot } from 'abstract-level';
import { asTypedError, BatchTooLargeError, InvalidOptionError, SnapshotExpiredError, StoreClosedError, StoreLockedError, TransactionLimitError } from '../errors.js';
import { joinPath } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { Manifest } from '../manifest/manifest.js';
import { openStore } from '../store/open-store.js';
import { commitBytesLimit, type StoreOptions } from '../store/options.js';
import type { Store, StoreSnapshot } from '../store/store.js';
import type { TransactionHandle } from '../transaction/transaction.js';
import { BATCH_OPERATIONS_MAX, KEY_BYTES_MAX, SEGMENT_BYTES_DEFAULT } from '../limits.js';
import { assert } from '../util/assert.js';
import { writeShrinkingValues } from '../lease/reserved-keys.js';
import { isReservedStoreKey, levelRange, PAIR_SLOT_KEY, pairIndex, type PairValue, readLevelValue, readPair } from './key-slots.js';
import { clearChunks } from './clear-chunks.js';
import { LevelIterator } from './level-iterator.js';
import { LevelLockedError } from './level-locked-error.js';

/** Options of the constructor: abstract-level's, plus the store's (keyEncoding is the adapter's). */
export interface LadybugLevelOptions {
  keyEncoding?: string | object;
  valueEncoding?: string | object;
  createIfMissing?: boolean;
  errorIfExists?: boolean;
  passive?: boolean;
  /** openStore options for the underlying store (its keyEncoding is always 'binary'). */
  store?: Omit<StoreOptions, 'keyEncoding'>;
}

type WriteOperation = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

interface ReadOptions {
  snapshot?: LadybugSnapshot | null;
}

interface RangeReadOptions extends ReadOptions {
  gt?: unknown;
  gte?: unknown;
  lt?: unknown;
  lte?: unknown;
  reverse?: boolean;
  limit?: number;
  keys?: boolean;
  values?: boolean;
}

/** abstract-level's typings omit the constructor's options (which carry the owner). */
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/**
 * An explicit snapshot: a store snapshot, pinned from the call of db.snapshot(). Reads
 * through it are as of its version, and expire with the store snapshot
 * (`snapshotMaxAgeMs`): the store drops the pin then, and a read as of the version went
 * on unpinned, answering or failing with VersionNotRetainedError as retention went,
 * where a store snapshot's next use throws SnapshotExpiredError.
 */
class LadybugSnapshot extends SnapshotBase {
  readonly version: number;
  readonly #storeSnapshot: Promise<StoreSnapshot>;
  readonly #createdAtMs: number;
  readonly #maxAgeMs: number;

  constructor(options: object, store: Store, maxAgeMs: number) {
    super(options);
    // Timed from before the store snapshot is taken, so this one expires no later than it.
    this.#createdAtMs = performance.now();
    this.#maxAgeMs = maxAgeMs;
    // Store.snapshot() pins synchronously, before its first await: the version read
    // here in the same tick is the one it pins.
    this.#storeSnapshot = store.snapshot();
    // Refused (the store closed under the adapter): reads through it meet the closed store;
    // handled here, or it was an unhandledRejection, and _close has nothing to release.
    this.#storeSnapshot.catch(() => undefined);
    this.version = store.version;
  }

  /** The version to read as of; SnapshotExpiredError once the snapshot is older than snapshotMaxAgeMs. */
  readVersion(): number {
    const ageMs = performance.now() - this.#createdAtMs;
    if (ageMs >= this.#maxAgeMs) throw new SnapshotExpiredError(this.version, ageMs, this.#maxAgeMs);
    return this.version;
  }

  async _close(): Promise<void> {
    // A refused store snapshot pins nothing: closing the level one must still succeed, or
    // abstract-level counts it open and every db.close() fails (as an iterator did, 3e7ba7d).
    const snapshot = await this.#storeSnapshot.catch(() => undefined);
    if (snapshot === undefined) return;
    assert(snapshot.version === this.version, 'the level snapshot reads the version its store snapshot pins');
    await snapshot.release();
  }
}

const MANIFEST = {
  implicitSnapshots: true,
  explicitSnapshots: true,
  has: true,
  getSync: false,
  seek: true,
  permanence: true,
  createIfMissing: true,
  errorIfExists: true,
  encodings: { view: true },
  additionalMethods: {},
  signals: { iterators: false },
} as const;

export class LadybugLevel<KDefault = string, VDefault = string> extends AbstractLevel<Uint8Array, KDefault, VDefault> {
  readonly location: string;
  readonly #storeOptions: Omit<StoreOptions, 'keyEncoding'>;
  /** The most bytes of operations one store commit takes (clear-chunks.ts keeps each chunk within it). */
  readonly #commitBytesMax: number;
  #store: Store | undefined;
  /** Settles when the last write touching the pair slot called so far has settled; undefined once it has (#write). */
  #pairTail: Promise<void> | undefined;
  /** The writes of other keys called since that one, which wait for it (#write). */
  #behindPair: Array<Promise<void>> = [];
  /** The clear() calls in flight, each settled when it has (#_close waits for them). */
  readonly #clears = new Set<Promise<void>>();

  /**
   * Bad arguments are InvalidOptionError (a TypeError, LADYBUG_INVALID_OPTION), as the store's
   * are; abstract-level's own checks (the options object, encodings) throw its own errors.
   */
  constructor(location: string, options?: LadybugLevelOptions) {
    if (typeof location !== 'string' || location.length === 0) {
      throw new InvalidOptionError('location', `must be a non-empty string, got ${typeof location === 'string' ? "''" : typeof location}`);
    }
    const { store: storeOptions, ...levelOptions } = options ?? {};
    // Checked before the `in` below, which threw a bare TypeError (no code) for null or a primitive.
    if (storeOptions !== undefined && (typeof storeOptions !== 'object' || storeOptions === null)) {
      throw new InvalidOptionError('store', `must be an object of store options, got ${storeOptions === null ? 'null' : typeof storeOptions}`);
    }
    if (storeOptions !== undefined && 'keyEncoding' in storeOptions) {
      throw new InvalidOptionError('store.keyEncoding', 'is set by the level adapter (binary)');
    }
    super(MANIFEST, levelOptions as never);
    this.location = location;
    this.#storeOptions = storeOptions ?? {};
    // The store's own bound on one commit (openStore refuses a segmentSizeBytes out of its range).
    this.#commitBytesMax = commitBytesLimit(this.#storeOptions.segmentSizeBytes ?? SEGMENT_BYTES_DEFAULT);
  }

  /** The underlying store, while the database is open; StoreClosedError (LADYBUG_STORE_CLOSED) before it opened and once it closes. */
  get store(): Store {
    const store = this.#store;
    if (store === undefined) throw new StoreClosedError(`reach the store of a level database that is not open (status '${this.status}')`);
    return store;
  }

  async _open(options: { createIfMissing?: boolean; errorIfExists?: boolean }): Promise<void> {
    const fileSystem = this.#storeOptions.fileSystem ?? new NodeFileSystem();
    // A store directory always has its wal/ directory (created by openStore), or, when wal/ was
    // removed, its manifest: that store exists, damaged, and openStore refuses it (CorruptionError);
    // taken for missing, createIfMissing: false called it 'does not exist'.
    // A failed look (EACCES, EIO) is typed as openStore's own failures are (IoError, LADYBUG_IO), not a raw error.
    const exists = await fileSystem.exists(joinPath(this.location, 'wal')).then(async (walExists) => walExists
      || Manifest.listed(await Manifest.list(fileSystem, this.location).catch(() => []))).catch((error: unknown) => {
      throw asTypedError(error, `open ${this.location}`);
    });
    // abstract-level rejects open() with LEVEL_DATABASE_NOT_OPEN and this as its cause (its suite
    // matches the cause's message: "does not exist", "exists"); the cause has the store's code.
    if (!exists && options.createIfMissing === false) throw new InvalidOptionError('createIfMissing', `${this.location} does not exist (createIfMissing is false)`);
    if (exists && options.errorIfExists === true) throw new InvalidOptionError('errorIfExists', `${this.location} exists (errorIfExists is true)`);
    this.#store = await openStore(this.location, { ...this.#storeOptions, keyEncoding: 'binary' }).catch((error: unknown) => {
      // abstract-level's code for a database another handle holds (classic-level's too).
      throw error instanceof StoreLockedError ? new LevelLockedError(error) : error;
    });
  }

  /**
   * The store is let go only once its close() resolved: when it rejects, abstract-level puts
   * the database back to 'open' (LEVEL_DATABASE_NOT_CLOSED), and db.close() called again
   * must close this store again, not resolve with it still holding its directory.
   */
  async _close(): Promise<void> {
    const store = this.#store;
    if (store === undefined) return;
    // abstract-level does not wait for writes already called; store.close() waits for its
    // batches in flight, but a pair-slot transaction still reading, a write queued behind
    // one (#write), or a clear() between its chunks met the closed store (StoreClosedError).
    // They land first, as classic-level's close() lets the operations called before it finish.
    while (this.#pairTail !== undefined || this.#clears.size > 0) {
      await Promise.all([this.#pairTail, ...this.#behindPair, ...this.#clears]);
    }
    await store.close();
    this.#store = undefined;
  }

  async _get(key: Uint8Array, options: ReadOptions): Promise<Uint8Array | undefined> {
    return this.#getAsOf(key, options.snapshot?.readVersion());
  }

  /** The level value of `key` as of `asOf` (the newest version when undefined). */
  async #getAsOf(key: Uint8Array, asOf: number | undefined): Promise<Uint8Array | undefined> {
    if (isReservedStoreKey(key)) return undefined; // never a level key (key-slots.ts)
    if (key.length > KEY_BYTES_MAX) return undefined; // never stored (the store's key limit)
    const index = pairIndex(key);
    const stored = await this.store.get(index === undefined ? key : PAIR_SLOT_KEY, asOf === undefined ? undefined : { asOf });
    if (index !== undefined) return readPair(stored)[index] ?? undefined;
    return readLevelValue(key, stored);
  }

  async _getMany(keys: Uint8Array[], options: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    // One version for all keys, as a snapshot would give.
    const asOf = options.snapshot?.readVersion() ?? this.store.version;
    return Promise.all(keys.map((key) => this.#getAsOf(key, asOf)));
  }

  async _has(key: Uint8Array, options: ReadOptions): Promise<boolean> {
    return (await this._get(key, options)) !== undefined;
  }

  async _hasMany(keys: Uint8Array[], options: ReadOptions): Promise<boolean[]> {
    return (await this._getMany(keys, options)).map((value) => value !== undefined);
  }

  async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.#write([{ type: 'put', key, value }]);
  }

  async _del(key: Uint8Array): Promise<void> {
    await this.#write(withoutUnstorableDeletes([{ type: 'del', key }]));
  }

  /**
   * abstract-level hands over its operations with keyEncoding, valueEncoding and the
   * caller's options in them; the store refuses an operation field it does not take, so
   * each is passed on as its type, key and value only.
   */
  async _batch(operations: WriteOperation[]): Promise<void> {
    await this.#write(withoutUnstorableDeletes(operations.map((operation): WriteOperation => (operation.type === 'put'
      ? { type: 'put', key: operation.key, value: operation.value }
      : { type: 'del', key: operation.key }))));
  }

  /**
   * Applies `operations` in order, atomically, to `store` (the open store, by default).
   * A write touching the pair slot is a transaction (read, modify, write); run side by side,
   * the adapter's own ones conflicted on that one key, retried, landed out of call order and
   * ran out of retries (ConflictError, which no level write documents). So one runs only
   * once the pair-slot write before it and the writes queued behind that one have settled,
   * and a write called while one is pending waits for it; the others are one store batch at
   * once, as before (the store commits in the order writes arrive, so they keep their group
   * commit, and a transaction begun after them commits after them).
   * A write that does not go to the store at once copies its keys and values first: the
   * caller may reuse its buffers once the call returned (the store's batch copies them at
   * the call, and so does classic-level), and a transaction reads its operations only later.
   */
  #write(operations: readonly WriteOperation[], store: Store = this.store): Promise<void> {
    if (!operations.some((operation) => pairIndex(operation.key) !== undefined)) {
      if (this.#pairTail === undefined) return batchOf(store, operations);
      const taken = operations.map(copiedOperation);
      const run = this.#pairTail.then(() => batchOf(store, taken));
      this.#behindPair.push(settled(run));
      return run;
    }
    const before = this.#pairTail === undefined ? [] : [this.#pairTail, ...this.#behindPair];
    const taken = operations.map(copiedOperation);
    const run = Promise.all(before).then(() => this.#writePair(taken, store));
    const tail = settled(run);
    this.#pairTail = tail;
    this.#behindPair = [];
    // Registered before any write behind it: it runs first, and those then go out in call order.
    void tail.then(() => {
      if (this.#pairTail !== tail) return;
      this.#pairTail = undefined;
      this.#behindPair = [];
    });
    return run;
  }

  /** `operations`, at least one of them on the pair slot, as one store transaction. */
  async #writePair(operations: readonly WriteOperation[], store: Store): Promise<void> {
    // A level batch over one commit's limits is BatchTooLargeError, as store.batch() refuses one; the
    // transaction counted distinct keys (its write set) and refused with TransactionLimitError.
    if (operations.length > BATCH_OPERATIONS_MAX) throw new BatchTooLargeError(`batch has ${operations.length} operations, over the limit of ${BATCH_OPERATIONS_MAX}`);
    await store.transaction(async (transaction) => {
      const stored = readPair(await transaction.get(PAIR_SLOT_KEY));
      const pair: PairValue = [stored[0], stored[1]];
      for (const operation of operations) {
        const index = pairIndex(operation.key);
        if (index !== undefined) pair[index] = operation.type === 'put' ? operation.value : null;
        else if (operation.type === 'put') transaction.put(operation.key, operation.value);
        else transaction.delete(operation.key);
      }
      // Deleting a half shrinks the pair: not refused for the size of the half kept, which a
      // store reopened with a lower maxValueBytes may hold over it (a put is held to the limit).
      const onlyDeletes = pair.every((half, index) => half === null || half === stored[index]);
      if (onlyDeletes) writeShrinkingValues(() => writePair(transaction, pair));
      else writePair(transaction, pair);
    }).catch((error: unknown) => {
      if (error instanceof TransactionLimitError && (error.limit === 'operations' || error.limit === 'bytes')) throw new BatchTooLargeError(`batch: ${error.message}`);
      throw error;
    });
  }

  _iterator(options: RangeReadOptions): LevelIterator {
    const snapshot = options.snapshot ?? undefined;
    return new LevelIterator(this, this.store, {
      range: levelRange(options),
      reverse: options.reverse === true,
      keys: options.keys !== false,
      values: options.values !== false,
      version: snapshot?.version ?? this.store.version,
      // An explicit snapshot pins its version itself (until it closes, which abstract-level defers past the iterator's).
      pinVersion: snapshot === undefined,
      // An explicit snapshot's expiry is checked at each step, as a store snapshot's scan checks it.
      ...(snapshot === undefined ? {} : { checkSnapshot: () => void snapshot.readVersion() }),
    }, options);
  }

  /**
   * Not one write: the range's keys as of the call, deleted in store batches that each fit a commit (clear-chunks.ts).
   * db.close() waits for it (#clears), so a clear called before the close clears its range.
   */
  _clear(options: RangeReadOptions): Promise<void> {
    const clearing = this.#clearRange(options);
    const done = settled(clearing);
    this.#clears.add(done);
    void done.then(() => this.#clears.delete(done));
    return clearing;
  }

  async #clearRange(options: RangeReadOptions): Promise<void> {
    // The store the clear began on: closed under it (db.store.close(), say), its next read or
    // write is refused with StoreClosedError naming the store's operation.
    const store = this.store;
    // The iterator's internal methods: its keys stay in the adapter's format (view).
    const iterator = this._iterator({ ...options, values: false, keys: true });
    // Not a resource of the database: db.close() closed it with the others, and the loop took
    // the closed iterator's end for the range's, resolving with the range only partly cleared.
    this.detachResource(iterator);
    const limit = options.limit !== undefined && options.limit >= 0 ? options.limit : Infinity;
    try {
      for await (const keys of clearChunks(iterator, limit, this.#commitBytesMax)) {
        await this.#write(keys.map((key) => ({ type: 'del', key })), store);
      }
    } finally {
      await iterator._close();
    }
  }

  _snapshot(options: object): LadybugSnapshot {
    return new LadybugSnapshot(options, this.store, this.#storeOptions.snapshotMaxAgeMs ?? Infinity);
  }
}

/** `operation` with copies of its key and value (new Uint8Array copies; a Buffer's slice() would not). */
function copiedOperation(operation: WriteOperation): WriteOperation {
  return operation.type === 'put'
    ? { type: 'put', key: new Uint8Array(operation.key), value: new Uint8Array(operation.value) }
    : { type: 'del', key: new Uint8Array(operation.key) };
}

async function batchOf(store: Store, operations: readonly WriteOperation[]): Promise<void> {
  await store.batch(operations);
}

/** Resolves when `promise` settles, either way. */
function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(() => undefined, () => undefined);
}

function writePair(transaction: TransactionHandle, pair: PairValue): void {
  if (pair[0] === null && pair[1] === null) transaction.delete(PAIR_SLOT_KEY);
  else transaction.put(PAIR_SLOT_KEY, pair);
}

/**
 * `operations` less the deletes of keys over the store's key limit (KEY_BYTES_MAX) or under
 * its reserved prefix (isReservedStoreKey: lease records): no such level key can be stored
 * (reads answer it absent), so deleting one changes nothing, as in classic-level (which has
 * no limit); the store would refuse it as a key, and a reserved one's lease record must stay.
 * Puts of such keys stay, and the store refuses them (InvalidKeyError): those limits are real.
 */
function withoutUnstorableDeletes(operations: WriteOperation[]): WriteOperation[] {
  return operations.some(isUnstorableDelete) ? operations.filter((operation) => !isUnstorableDelete(operation)) : operations;
}

function isUnstorableDelete(operation: WriteOperation): boolean {
  return operation.type === 'del' && (operation.key.length > KEY_BYTES_MAX || isReservedStoreKey(operation.key));
}

