/**
 * store.leases: leases with fencing tokens, built on the store's serializable
 * transactions (docs/ARCHITECTURE.md "Leases").
 *
 * Every operation is one serializable transaction over the lease's record: the
 * check (is it held? by this token?) and the write (the new holder, with all its
 * metadata) are in the same commit, so there is no check-then-write window.
 * Operations of one store are also run one at a time, under the lease.operations
 * lock (rank 12, below commit: it is held across the store transaction), so the
 * token of an acquisition can be read back (history of the record) before anything
 * else writes the record.
 *
 * Parts: the leases this open holds and their timers and counters (lease-holders.ts),
 * reading and deleting records (lease-records.ts), bound keys (lease-bound-keys.ts),
 * fences and the writes with lease options (lease-fences.ts),
 * waiting acquires (lease-waiters.ts), the record's shape (lease-record.ts).
 *
 * Invariants:
 * - token = the version of the commit that wrote the record with the acquisition's
 *   nonce; versions only grow, also across restarts, so tokens do.
 * - #holders holds exactly the leases this open acquired and has not seen end; a
 *   record is live iff it is in #holders with the same nonce and its monotonic
 *   deadline is in the future.
 * - Restart rule: every lease held when the store was closed or crashed is expired
 *   at the next open (its holder was in that process); openStore deletes those
 *   records and their bound keys before it returns (expireLeasesAtOpen), and no
 *   lease operation of this open runs before that finished.
 * - A lease that ends (release, force release, expiry, replacement of an expired
 *   record) deletes the bound keys it still owns in the same commit that deletes the
 *   record; a key written since by anything but a write bound to this lease is
 *   detached and kept (etcd's rule; lease-bound-keys.ts).
 * - A fenced commit (tx.requireLease, the fence and lease write options) is accepted
 *   only if, under the commit lock, the acquisition it names is still this open's
 *   #holders entry with its deadline ahead, and no commit since its read version wrote
 *   the lease record (the record is in its read set): no check-then-write window
 *   (lease-fences.ts).
 */
import { randomUUID } from 'node:crypto';
import { AssertionFailedError, LeaseBusyError, LeaseLostError, StoreClosedError, StoreFailedError, UnauthorizedError, VersionSpaceExhaustedError } from '../errors.js';
import { LEASE_EXPIRY_RETRY_DELAY_MS } from '../limits.js';
import type { LeaseFence, TransactionHandle } from '../transaction/transaction.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import type { BatchOperation } from '../commit/prepare.js';
import type { ResolvedWriteOptions } from './write-options.js';
import { runDetached } from '../lock/held-locks.js';
import { OrderedMutex } from '../lock/ordered-mutex.js';
import { refuseOptions } from '../store/options.js';
import { assert } from '../util/assert.js';
import {
  checkLeaseOptions, checkName, checkOwner, checkReason, checkSignal, checkToken, checkTtl, checkWaitMs, type LeaseInfo, type LeaseRecord,
  parseRecord, recordKey, withDeadline,
} from './lease-record.js';
import { LeaseWaiters, type WaitOutcome } from './lease-waiters.js';
import { writeReservedKeys } from './reserved-keys.js';
import { type HeldLease, LeaseHolders, type LeaseStats } from './lease-holders.js';
import { LeaseFences } from './lease-fences.js';
import { deleteRecord, type LeaseStorePort, readRecords } from './lease-records.js';
import { deleteOwnedBoundKeys, settleBoundVersions } from './lease-bound-keys.js';

export type { LeaseInfo } from './lease-record.js';
export type { LeaseStats } from './lease-holders.js';
export type { LeaseStorePort } from './lease-records.js';

/** Internal (tests): the failpoint LeaseManager#[afterLeaseCheck]. */
export const afterLeaseCheck: unique symbol = Symbol('ladybug.afterLeaseCheck');

export interface LeaseConfig {
  ttlMsMax: number;
  authorize: ((leaseName: string, authorization: unknown) => boolean | Promise<boolean>) | undefined;
}

export interface AcquireOptions { owner: string; ttlMs: number; waitMs?: number; signal?: AbortSignal }
export interface HolderOptions { owner: string; token: number }
export interface ForceReleaseOptions { authorization: unknown; reason: string; actor?: string }

const ACQUIRE_OPTION_NAMES = ['owner', 'ttlMs', 'waitMs', 'signal'];
/** renew and release: the holder's owner and token; the object acquire returned (LeaseInfo) works as is. */
const HOLDER_OPTION_NAMES = ['owner', 'token', 'name', 'expiresAt'];

export class LeaseManager {
  readonly #store: LeaseStorePort;
  readonly #config: LeaseConfig;
  readonly #instanceId = randomUUID();
  readonly #waiters = new LeaseWaiters();
  /** This open's acquisitions, their expiry timers and the counters. */
  readonly #holders: LeaseHolders;
  /** Guards the lease records of this store: one lease operation at a time (LOCK_ORDER.md, rank below commit). */
  readonly #operationLock = new OrderedMutex('lease.operations');
  /** Fences and writes with lease options (lease-fences.ts). */
  readonly #fences: LeaseFences;
  /** The restart rule's deletions, started by the constructor (openStore awaits it). */
  readonly #restart: Promise<void>;

  constructor(store: LeaseStorePort, config: LeaseConfig) {
    this.#store = store;
    this.#config = config;
    // Detached: the timer is set under lease.operations and would otherwise inherit it (a reentrant take).
    this.#holders = new LeaseHolders(this.#waiters, (name, nonce) => runDetached(() => this.#serial(() => this.#expire(name, nonce))));
    this.#fences = new LeaseFences(store, this.#holders, this.#operationLock, (operation) => this.#serial(operation));
    // The restart rule, applied before any other lease operation; openStore awaits
    // it (expireLeasesAtOpen), so it is done when the store opens.
    this.#restart = this.#serial(() => this.#expireEarlierOpens());
    this.#restart.catch(() => undefined); // awaited by openStore; not an unhandled rejection meanwhile
  }

  /** Settles when the restart rule's deletions are durable; rejects if they failed. */
  restartApplied(): Promise<void> {
    return this.#restart;
  }

  /**
   * The store is closing (Store#close, after it refuses new calls): wakes every waiting
   * acquire, whose next attempt then rejects with StoreClosedError, and clears the expiry
   * timers (no expiry can commit now; they kept the closed store reachable until their deadlines).
   */
  storeClosing(): void {
    this.#waiters.wakeAll();
    this.#holders.stopTimers();
  }

  /**
   * The store failed (its commit pipeline's failure listener, registered once by
   * store.leases): every waiting acquire rejects with `failure`, the error a put gets,
   * and so does every acquire from now on, at once. Without it they slept out their
   * waitMs, since a failed store never commits the release that would wake them.
   */
  storeFailed(failure: StoreFailedError): void {
    this.#waiters.failAll(failure);
  }

  /**
   * Throws the store's failure, if it failed: nothing commits under this open's leases again, and
   * after a directory-lock takeover another process may hold them, so get and list refuse as acquire does.
   */
  #refuseIfFailed(): void {
    const failure = this.#waiters.failure;
    if (failure !== undefined) throw failure;
  }

  /** Runs `operation` under the lease.operations lock, after every earlier lease operation of this store (FIFO). */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    return this.#operationLock.runExclusive(operation);
  }

  async acquire(name: string, options: AcquireOptions): Promise<LeaseInfo> {
    checkName(name);
    checkLeaseOptions('acquire', options, ACQUIRE_OPTION_NAMES);
    const owner = checkOwner(options.owner);
    const ttlMs = checkTtl(options.ttlMs, this.#config.ttlMsMax);
    const waitMs = checkWaitMs(options.waitMs);
    checkSignal(options.signal)?.throwIfAborted();
    // Refused at once on a failed store, as a put is: held, it would wait for a release
    // that can never be committed; free, its commit would be refused anyway.
    this.#refuseIfFailed();
    const startedMs = performance.now();
    let waited = false;
    let front = false;
    for (;;) {
      // Checked again as each attempt starts: woken, an attempt may wait its turn behind other
      // lease operations, and one aborted meanwhile must not take the lease.
      const outcome = await this.#serial(async () => {
        options.signal?.throwIfAborted();
        const attempt = await this.#tryAcquire(name, owner, ttlMs);
        // Aborted while this attempt took the lease (its commit under way): the caller gave up,
        // so the lease goes back now, in the same turn of lease.operations, not at its TTL.
        if ('token' in attempt && options.signal?.aborted === true) await this.#giveBack(name, attempt.token, options.signal);
        return attempt;
      }).then(async (attempt) => {
        // Aborted after that turn ended, before the acquire returned: the same.
        if ('token' in attempt && options.signal?.aborted === true) await this.#serial(() => this.#giveBack(name, attempt.token, options.signal!));
        return attempt;
      }).catch((error: unknown) => {
        if (options.signal?.aborted === true && error === options.signal.reason) this.#holders.counters.failedAcquires++;
        // Woken (a release wakes the first waiter only) and leaving without the lease: the
        // next waiter gets the wake, or it slept on with the lease free until its waitMs ran out.
        if (front) this.#waiters.wakeOne(name);
        throw error;
      });
      if ('token' in outcome) {
        if (waited) this.#holders.recordWait(performance.now() - startedMs);
        return outcome;
      }
      const leftMs = waitMs - (performance.now() - startedMs);
      if (leftMs <= 0) {
        this.#holders.counters.failedAcquires++;
        throw new LeaseBusyError(name, outcome.holder, performance.now() - startedMs);
      }
      if (!waited) this.#holders.counters.waitingAcquires++;
      waited = true;
      const woke: WaitOutcome = await this.#waiters.wait(name, Math.ceil(leftMs), options.signal, front).catch((error: unknown) => {
        this.#holders.counters.failedAcquires++;
        throw error;
      });
      front = woke === 'woken';
    }
  }

  async #tryAcquire(name: string, owner: string, ttlMs: number): Promise<LeaseInfo | { holder: string }> {
    const key = recordKey(name);
    const nonce = randomUUID();
    const fresh: LeaseRecord = withDeadline(
      { owner, nonce, instanceId: this.#instanceId, ttlMs, deadlineMs: 0, expiresAtMs: 0, boundKeys: [], boundVersions: [] }, ttlMs,
    );
    const outcome = await this.#store.transaction(async (tx) => {
      const current = parseRecord(name, await tx.get(key));
      const live = this.#holders.live(name, current);
      if (current !== undefined && live !== undefined) return { holder: current.owner };
      if (current !== undefined) await deleteOwnedBoundKeys(this.#store, tx, name, current);
      writeReservedKeys(() => tx.put(key, fresh));
      return { replaced: current !== undefined };
    });
    if (outcome.holder !== undefined) return { holder: outcome.holder };
    if (outcome.replaced === true) this.#holders.ended(name, 'expired');
    const [newest] = await this.#store.history(key, { limit: 1 });
    assert(newest !== undefined && (newest.value as LeaseRecord | undefined)?.nonce === nonce, 'the acquisition is the newest version of its record');
    const held: HeldLease = { owner, nonce, token: newest.version, deadlineMs: fresh.deadlineMs, timer: undefined };
    this.#holders.add(name, held);
    this.#holders.counters.acquisitions++;
    return { name, owner, token: held.token, expiresAt: fresh.expiresAtMs };
  }

  /**
   * Releases the acquisition `token` of `name` just taken for an acquire whose `signal`
   * aborted meanwhile, then throws the signal's reason. If the release cannot commit (the
   * store closing or failed), the lease ends at its deadline or the next open, as any.
   */
  async #giveBack(name: string, token: number, signal: AbortSignal): Promise<never> {
    const held = this.#holders.get(name);
    if (held?.token === token) {
      const released = await deleteRecord(this.#store, name, held.nonce, undefined).then(() => true, () => false);
      if (released) this.#holders.ended(name, 'released');
    }
    signal.throwIfAborted();
    throw new AssertionFailedError('an aborted signal throws its reason');
  }

  /** The expiry timer: deletes the record and its bound keys once the deadline passed. */
  async #expire(name: string, nonce: string): Promise<void> {
    const held = this.#holders.get(name);
    if (held === undefined || held.nonce !== nonce) return;
    if (performance.now() < held.deadlineMs) return this.#holders.schedule(name, held);
    try {
      await this.#store.transaction(async (tx) => {
        const current = parseRecord(name, await tx.get(recordKey(name)));
        if (current?.nonce !== nonce) return;
        await deleteOwnedBoundKeys(this.#store, tx, name, current);
        writeReservedKeys(() => tx.delete(recordKey(name)));
      });
    } catch (error) {
      // The lease is over (nothing accepts its token) but its record and bound keys are
      // still stored: try again later, unless the store will never write again.
      if (!(error instanceof StoreClosedError || error instanceof StoreFailedError) && this.#holders.get(name) === held) {
        this.#holders.schedule(name, held, LEASE_EXPIRY_RETRY_DELAY_MS);
      }
      throw error;
    }
    this.#holders.ended(name, 'expired');
  }

  /**
   * Extends a held lease by `ttlMs` (default: its TTL) from now; an expired lease cannot
   * be renewed: its deadline must still be ahead when the renewal's commit is validated.
   */
  async renew(name: string, options: HolderOptions & { ttlMs?: number }): Promise<{ expiresAt: number }> {
    checkName(name);
    checkLeaseOptions('renew', options, [...HOLDER_OPTION_NAMES, 'ttlMs']);
    const owner = checkOwner(options.owner);
    const token = checkToken(options.token);
    const ttlOption = options.ttlMs === undefined ? undefined : checkTtl(options.ttlMs, this.#config.ttlMsMax);
    return this.#serial(async () => {
      const held = this.#holders.check(name, token, owner);
      const renewed = await this.#store.transaction(async (tx) => {
        // Fenced: a deadline that passes before the commit is validated fails the renewal
        // (LeaseLostError) instead of bringing the lease back (etcd: no keep-alive of an expired lease).
        await tx.requireLease(name, token);
        const current = parseRecord(name, await tx.get(recordKey(name)));
        if (current?.nonce !== held.nonce) throw new LeaseLostError(name, token, 'its record was replaced');
        const next = withDeadline(await settleBoundVersions(this.#store, name, current), ttlOption ?? current.ttlMs);
        writeReservedKeys(() => tx.put(recordKey(name), next));
        // Applied when the commit is validated (the fence's accepted hook), not once it is durable:
        // a fenced write ordered after this renewal, past the old deadline, was refused as expired.
        this.#fences.renewing(tx, held, next.deadlineMs);
        return next;
      });
      held.deadlineMs = renewed.deadlineMs;
      this.#holders.schedule(name, held);
      return { expiresAt: renewed.expiresAtMs };
    });
  }

  async release(name: string, options: HolderOptions): Promise<void> {
    checkName(name);
    checkLeaseOptions('release', options, HOLDER_OPTION_NAMES);
    const owner = checkOwner(options.owner);
    const token = checkToken(options.token);
    await this.#serial(async () => {
      const held = this.#holders.check(name, token, owner);
      await deleteRecord(this.#store, name, held.nonce, undefined);
      this.#holders.ended(name, 'released');
    });
  }

  /**
   * Ends the lease whoever holds it. Needs the `authorize` callback given at open to
   * return true for (name, authorization); the commit records actor and reason.
   */
  async forceRelease(name: string, options: ForceReleaseOptions): Promise<{ released: boolean }> {
    checkName(name);
    checkLeaseOptions('forceRelease', options, ['authorization', 'reason', 'actor']);
    const reason = checkReason(options.reason);
    const actor = options.actor === undefined ? 'unnamed' : checkOwner(options.actor);
    const authorize = this.#config.authorize;
    if (authorize === undefined) throw new UnauthorizedError('forceRelease', 'the store was opened without an authorize callback');
    if ((await authorize(name, options.authorization)) !== true) throw new UnauthorizedError('forceRelease', 'authorize returned false');
    return this.#serial(async () => {
      const removed = await deleteRecord(this.#store, name, undefined, { action: 'force-release', actor, reason, atMs: Date.now() });
      if (removed === undefined) return { released: false };
      this.#holders.ended(name, 'forced');
      return { released: true };
    });
  }

  /** The live holder of `name`, or undefined (expired holders are absent); the failure on a failed store. */
  async get(name: string): Promise<LeaseInfo | undefined> {
    checkName(name);
    this.#refuseIfFailed();
    return this.#serial(async () => {
      this.#refuseIfFailed();
      const [entry] = await this.#store.transaction(async (tx) => [await tx.get(recordKey(name))]);
      return this.#info(name, parseRecord(name, entry));
    });
  }

  #info(name: string, record: LeaseRecord | undefined): LeaseInfo | undefined {
    const held = this.#holders.live(name, record);
    if (record === undefined || held === undefined) return undefined;
    return { name, owner: record.owner, token: held.token, expiresAt: record.expiresAtMs };
  }

  /** Live leases whose names start with `prefix`, in name order; the failure on a failed store. */
  async list(options?: { prefix?: string }): Promise<LeaseInfo[]> {
    // undefined only: null is a wrong type, refused by checkName as a prefix of 5 is (`??` took it for absent).
    const given = options === undefined ? undefined : checkLeaseOptions('list', options, ['prefix']).prefix;
    const prefix = given === undefined ? '' : given;
    if (prefix !== '') checkName(prefix);
    this.#refuseIfFailed();
    return this.#serial(async () => {
      this.#refuseIfFailed();
      const result: LeaseInfo[] = [];
      for (const [name, record] of await readRecords(this.#store, prefix)) {
        const info = this.#info(name, record);
        if (info !== undefined) result.push(info);
      }
      return result;
    });
  }

  /** Names of stored records that are not live (expired, or from an earlier open). */
  async expiredNames(prefix = ''): Promise<string[]> {
    return this.#serial(async () => (await readRecords(this.#store, prefix)).filter(([name, record]) => this.#holders.live(name, record) === undefined).map(([name]) => name));
  }

  /** The restart rule: records from earlier opens are expired; delete them with their bound keys. */
  async #expireEarlierOpens(): Promise<void> {
    for (const [name, record] of await readRecords(this.#store, '')) {
      if (record.instanceId === this.#instanceId) continue;
      try {
        await deleteRecord(this.#store, name, record.nonce, undefined);
      } catch (error) {
        // The store's last version is handed out: no expiry can commit, nor can anything else
        // (no acquire, no write under a lease), so the records stay as the last open left them.
        if (error instanceof VersionSpaceExhaustedError) return;
        throw error;
      }
      this.#holders.counters.expiries++;
    }
  }

  /** The fence behind tx.requireLease and the fence and lease write options (lease-fences.ts). */
  fence(tx: TransactionHandle, name: string, token: number): Promise<LeaseFence> {
    return this.#fences.fence(tx, name, token);
  }

  /** A put, delete or batch with lease options, as one store transaction run by `run` (lease-fences.ts). */
  write(
    options: ResolvedWriteOptions,
    operations: readonly BatchOperation[],
    run: (body: (tx: TransactionHandle) => Promise<void>) => Promise<CommitResult | undefined>,
  ): Promise<CommitResult | undefined> {
    return this.#fences.write(options, operations, run, () => this[afterLeaseCheck]);
  }

  /**
   * Failpoint for tests: awaited inside a lease write's transaction after its lease
   * checks and writes, before the commit (the window a paused holder would have).
   * A `lease` write runs it under lease.operations: there it must not call a lease
   * operation (it would wait for itself); a `fence`-only write holds no lease lock.
   */
  [afterLeaseCheck]: (() => Promise<void>) | undefined;

  /** No options: an argument is refused (InvalidOptionError 'options'), as store.stats(x) is; thrown, stats being synchronous. */
  stats(argument?: undefined): LeaseStats {
    refuseOptions('leases.stats', argument, 'it returns every counter, and none can be reset');
    return this.#holders.stats();
  }
}
