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
 * Invariants:
 * - token = the version of the commit that wrote the record with the acquisition's
 *   nonce; versions only grow, also across restarts, so tokens do.
 * - #held holds exactly the leases this open acquired and has not seen end; a
 *   record is live iff it is in #held with the same nonce and its monotonic
 *   deadline is in the future.
 * - Restart rule: every lease held when the store was closed or crashed is expired
 *   at the next open (its holder was in that process); openStore deletes those
 *   records and their bound keys before it returns (expireLeasesAtOpen), and no
 *   lease operation of this open runs before that finished.
 * - A lease that ends (release, force release, expiry, replacement of an expired
 *   record) deletes its bound keys in the same commit that deletes the record.
 * - A fenced commit (tx.requireLease, the fence and lease write options) is accepted
 *   only if, under the commit lock, the acquisition it names is still this open's
 *   #held entry with its deadline ahead, and no commit since its read version wrote
 *   the lease record (the record is in its read set): no check-then-write window.
 */
import { randomUUID } from 'node:crypto';
import { InvalidKeyError, LeaseBusyError, LeaseLostError, UnauthorizedError } from '../errors.js';
import type { LeaseFence, TransactionHandle } from '../transaction/transaction.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import type { BatchOperation } from '../commit/prepare.js';
import type { ResolvedWriteOptions } from './write-options.js';
import type { TransactionOptions } from '../transaction/run-transaction.js';
import type { HistoryEntry } from '../memory/history.js';
import { LEASE_BOUND_KEYS_MAX } from '../limits.js';
import { OrderedMutex, runDetached } from '../lock/ordered-mutex.js';
import { assert } from '../util/assert.js';
import {
  auditKey, checkName, checkOwner, checkReason, checkToken, checkTtl, checkWaitMs, type LeaseInfo, type LeaseRecord,
  LEASE_RECORD_PREFIX, parseRecord, recordKey, withDeadline,
} from './lease-record.js';
import { LeaseWaiters, type WaitOutcome } from './lease-waiters.js';
import { checkWritableKey, writeReservedKeys } from './reserved-keys.js';

export type { LeaseInfo } from './lease-record.js';

/** Internal (tests): the failpoint LeaseManager#[afterLeaseCheck]. */
export const afterLeaseCheck: unique symbol = Symbol('ladybug.afterLeaseCheck');

/** The put keys of a lease-bound write, distinct, as stored in the record: strings only, never reserved. */
function leaseBoundKeys(operations: readonly BatchOperation[]): string[] {
  const keys = new Set<string>();
  for (const operation of operations) {
    if (operation.type !== 'put') continue;
    // A misuse of the key, not a lost lease: the key's own typed errors.
    if (typeof operation.key !== 'string') throw new InvalidKeyError('type', `a lease-bound key is a string, got ${typeof operation.key}`);
    checkWritableKey(operation.key); // the reserved prefix is ASCII: a string starting with it has an internal key that does
    keys.add(operation.key);
  }
  if (keys.size > LEASE_BOUND_KEYS_MAX) throw new RangeError(`a lease binds at most ${LEASE_BOUND_KEYS_MAX} keys`);
  return [...keys];
}

/** The parts of the store the leases use (the Store class implements it). */
export interface LeaseStorePort {
  transaction<T>(body: (tx: TransactionHandle) => T | Promise<T>, options?: TransactionOptions): Promise<T>;
  history(key: string, options?: { limit?: number }): Promise<HistoryEntry[]>;
  scan(options?: { gte?: string; lt?: string }): AsyncIterableIterator<[string | Uint8Array, unknown]>;
}

export interface LeaseConfig {
  ttlMsMax: number;
  authorize: ((leaseName: string, authorization: unknown) => boolean | Promise<boolean>) | undefined;
}

export interface AcquireOptions { owner: string; ttlMs: number; waitMs?: number; signal?: AbortSignal }
export interface HolderOptions { owner: string; token: number }
export interface ForceReleaseOptions { authorization: unknown; reason: string; actor?: string }

export interface LeaseStats {
  held: number;
  acquisitions: number;
  /** Acquires that gave up (busy with no wait left, timed out or aborted). */
  failedAcquires: number;
  /** Acquires that had to wait at least once. */
  waitingAcquires: number;
  waitTimeMsTotal: number;
  waitTimeMsMax: number;
  expiries: number;
  forceReleases: number;
}

interface HeldLease {
  owner: string;
  nonce: string;
  token: number;
  deadlineMs: number;
  timer: NodeJS.Timeout | undefined;
}

export class LeaseManager {
  readonly #store: LeaseStorePort;
  readonly #config: LeaseConfig;
  readonly #instanceId = randomUUID();
  readonly #held = new Map<string, HeldLease>();
  readonly #waiters = new LeaseWaiters();
  /** Guards the lease records of this store: one lease operation at a time (LOCK_ORDER.md, rank below commit). */
  readonly #operationLock = new OrderedMutex('lease.operations');
  /** The restart rule's deletions, started by the constructor (openStore awaits it). */
  readonly #restart: Promise<void>;
  readonly #stats: LeaseStats = {
    held: 0, acquisitions: 0, failedAcquires: 0, waitingAcquires: 0, waitTimeMsTotal: 0, waitTimeMsMax: 0, expiries: 0, forceReleases: 0,
  };

  constructor(store: LeaseStorePort, config: LeaseConfig) {
    this.#store = store;
    this.#config = config;
    // The restart rule, applied before any other lease operation; openStore awaits
    // it (expireLeasesAtOpen), so it is done when the store opens.
    this.#restart = this.#serial(() => this.#expireEarlierOpens());
    this.#restart.catch(() => undefined); // awaited by openStore; not an unhandled rejection meanwhile
  }

  /** Settles when the restart rule's deletions are durable; rejects if they failed. */
  restartApplied(): Promise<void> {
    return this.#restart;
  }

  /** Runs `operation` under the lease.operations lock, after every earlier lease operation of this store (FIFO). */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    return this.#operationLock.runExclusive(operation);
  }

  #live(name: string, record: LeaseRecord | undefined): HeldLease | undefined {
    const held = this.#held.get(name);
    if (record === undefined || held === undefined || held.nonce !== record.nonce) return undefined;
    return performance.now() < held.deadlineMs ? held : undefined;
  }

  async acquire(name: string, options: AcquireOptions): Promise<LeaseInfo> {
    checkName(name);
    const owner = checkOwner(options?.owner);
    const ttlMs = checkTtl(options.ttlMs, this.#config.ttlMsMax);
    const waitMs = checkWaitMs(options.waitMs);
    options.signal?.throwIfAborted();
    const startedMs = performance.now();
    let waited = false;
    let front = false;
    for (;;) {
      const outcome = await this.#serial(() => this.#tryAcquire(name, owner, ttlMs));
      if ('token' in outcome) {
        if (waited) this.#recordWait(performance.now() - startedMs);
        return outcome;
      }
      const leftMs = waitMs - (performance.now() - startedMs);
      if (leftMs <= 0) {
        this.#stats.failedAcquires++;
        throw new LeaseBusyError(name, outcome.holder, performance.now() - startedMs);
      }
      if (!waited) this.#stats.waitingAcquires++;
      waited = true;
      const woke: WaitOutcome = await this.#waiters.wait(name, Math.ceil(leftMs), options.signal, front).catch((error: unknown) => {
        this.#stats.failedAcquires++;
        throw error;
      });
      front = woke === 'woken';
    }
  }

  #recordWait(waitedMs: number): void {
    this.#stats.waitTimeMsTotal += waitedMs;
    this.#stats.waitTimeMsMax = Math.max(this.#stats.waitTimeMsMax, waitedMs);
  }

  async #tryAcquire(name: string, owner: string, ttlMs: number): Promise<LeaseInfo | { holder: string }> {
    const key = recordKey(name);
    const nonce = randomUUID();
    const fresh: LeaseRecord = withDeadline(
      { owner, nonce, instanceId: this.#instanceId, ttlMs, deadlineMs: 0, expiresAtMs: 0, boundKeys: [] }, ttlMs,
    );
    const outcome = await this.#store.transaction(async (tx) => {
      const current = parseRecord(name, await tx.get(key));
      const live = this.#live(name, current);
      if (current !== undefined && live !== undefined) return { holder: current.owner };
      for (const bound of current?.boundKeys ?? []) tx.delete(bound);
      writeReservedKeys(() => tx.put(key, fresh));
      return { replaced: current !== undefined };
    });
    if (outcome.holder !== undefined) return { holder: outcome.holder };
    if (outcome.replaced === true) this.#ended(name, 'expired');
    const [newest] = await this.#store.history(key, { limit: 1 });
    assert(newest !== undefined && (newest.value as LeaseRecord | undefined)?.nonce === nonce, 'the acquisition is the newest version of its record');
    const held: HeldLease = { owner, nonce, token: newest.version, deadlineMs: fresh.deadlineMs, timer: undefined };
    this.#held.set(name, held);
    this.#schedule(name, held);
    this.#stats.acquisitions++;
    return { name, owner, token: held.token, expiresAt: fresh.expiresAtMs };
  }

  /** Forgets a lease this open held (if any) and wakes the next waiter. */
  #ended(name: string, how: 'expired' | 'released' | 'forced'): void {
    const held = this.#held.get(name);
    if (held !== undefined) clearTimeout(held.timer);
    this.#held.delete(name);
    if (how === 'expired') this.#stats.expiries++;
    if (how === 'forced') this.#stats.forceReleases++;
    this.#waiters.wakeOne(name);
  }

  #schedule(name: string, held: HeldLease): void {
    clearTimeout(held.timer);
    // Detached: the timer is set under lease.operations and would otherwise inherit it (a reentrant take).
    held.timer = setTimeout(() => void runDetached(() => this.#serial(() => this.#expire(name, held.nonce))).catch(() => undefined),
      Math.max(0, Math.ceil(held.deadlineMs - performance.now())));
    held.timer.unref();
  }

  /** The expiry timer: deletes the record and its bound keys once the deadline passed. */
  async #expire(name: string, nonce: string): Promise<void> {
    const held = this.#held.get(name);
    if (held === undefined || held.nonce !== nonce) return;
    if (performance.now() < held.deadlineMs) return this.#schedule(name, held);
    await this.#store.transaction(async (tx) => {
      const current = parseRecord(name, await tx.get(recordKey(name)));
      if (current?.nonce !== nonce) return;
      for (const bound of current.boundKeys) tx.delete(bound);
      writeReservedKeys(() => tx.delete(recordKey(name)));
    });
    this.#ended(name, 'expired');
  }

  /** The holder's check: `token` (and owner) still hold the lease and it has not expired. */
  #checkHolder(name: string, token: number, owner: string | undefined): HeldLease {
    const held = this.#held.get(name);
    if (held === undefined || held.token !== token) throw new LeaseLostError(name, token, 'another acquisition holds it, or none does');
    if (owner !== undefined && held.owner !== owner) throw new LeaseLostError(name, token, `owner is ${JSON.stringify(held.owner)}`);
    if (performance.now() >= held.deadlineMs) throw new LeaseLostError(name, token, 'expired (acquire it again)');
    return held;
  }

  /** Extends a held lease by `ttlMs` (default: its TTL) from now; an expired lease cannot be renewed. */
  async renew(name: string, options: HolderOptions & { ttlMs?: number }): Promise<{ expiresAt: number }> {
    checkName(name);
    const owner = checkOwner(options?.owner);
    const token = checkToken(options.token);
    const ttlOption = options.ttlMs === undefined ? undefined : checkTtl(options.ttlMs, this.#config.ttlMsMax);
    return this.#serial(async () => {
      const held = this.#checkHolder(name, token, owner);
      const renewed = await this.#store.transaction(async (tx) => {
        const current = parseRecord(name, await tx.get(recordKey(name)));
        if (current?.nonce !== held.nonce) throw new LeaseLostError(name, token, 'its record was replaced');
        const next = withDeadline(current, ttlOption ?? current.ttlMs);
        writeReservedKeys(() => tx.put(recordKey(name), next));
        return next;
      });
      held.deadlineMs = renewed.deadlineMs;
      this.#schedule(name, held);
      return { expiresAt: renewed.expiresAtMs };
    });
  }

  async release(name: string, options: HolderOptions): Promise<void> {
    checkName(name);
    const owner = checkOwner(options?.owner);
    const token = checkToken(options.token);
    await this.#serial(async () => {
      const held = this.#checkHolder(name, token, owner);
      await this.#deleteRecord(name, held.nonce, undefined);
      this.#ended(name, 'released');
    });
  }

  /** Deletes the record (if it is still acquisition `nonce`, or any when undefined) and its bound keys. */
  async #deleteRecord(name: string, nonce: string | undefined, audit: object | undefined): Promise<LeaseRecord | undefined> {
    return this.#store.transaction(async (tx) => {
      const current = parseRecord(name, await tx.get(recordKey(name)));
      if (current === undefined || (nonce !== undefined && current.nonce !== nonce)) return undefined;
      for (const bound of current.boundKeys) tx.delete(bound);
      writeReservedKeys(() => {
        tx.delete(recordKey(name));
        if (audit !== undefined) tx.put(auditKey(name), { ...audit, previousOwner: current.owner });
      });
      return current;
    });
  }

  /**
   * Ends the lease whoever holds it. Needs the `authorize` callback given at open to
   * return true for (name, authorization); the commit records actor and reason.
   */
  async forceRelease(name: string, options: ForceReleaseOptions): Promise<{ released: boolean }> {
    checkName(name);
    const reason = checkReason(options?.reason);
    const actor = options.actor === undefined ? 'unnamed' : checkOwner(options.actor);
    const authorize = this.#config.authorize;
    if (authorize === undefined) throw new UnauthorizedError('forceRelease', 'the store was opened without an authorize callback');
    if ((await authorize(name, options.authorization)) !== true) throw new UnauthorizedError('forceRelease', 'authorize returned false');
    return this.#serial(async () => {
      const removed = await this.#deleteRecord(name, undefined, { action: 'force-release', actor, reason, atMs: Date.now() });
      if (removed === undefined) return { released: false };
      this.#ended(name, 'forced');
      return { released: true };
    });
  }

  /** The live holder of `name`, or undefined (expired holders are absent). */
  async get(name: string): Promise<LeaseInfo | undefined> {
    checkName(name);
    return this.#serial(async () => {
      const [entry] = await this.#store.transaction(async (tx) => [await tx.get(recordKey(name))]);
      return this.#info(name, parseRecord(name, entry));
    });
  }

  #info(name: string, record: LeaseRecord | undefined): LeaseInfo | undefined {
    const held = this.#live(name, record);
    if (record === undefined || held === undefined) return undefined;
    return { name, owner: record.owner, token: held.token, expiresAt: record.expiresAtMs };
  }

  /** Live leases whose names start with `prefix`, in name order. */
  async list(options?: { prefix?: string }): Promise<LeaseInfo[]> {
    const prefix = options?.prefix ?? '';
    if (prefix !== '') checkName(prefix);
    return this.#serial(async () => {
      const result: LeaseInfo[] = [];
      for (const [name, record] of await this.#records(prefix)) {
        const info = this.#info(name, record);
        if (info !== undefined) result.push(info);
      }
      return result;
    });
  }

  /** Every stored record under `prefix`, live or not (the CLI shows expired ones on request). */
  async #records(prefix: string): Promise<Array<[string, LeaseRecord]>> {
    const result: Array<[string, LeaseRecord]> = [];
    const from = LEASE_RECORD_PREFIX + prefix;
    for await (const [key, value] of this.#store.scan({ gte: from, lt: `${from}\uffff` })) {
      const name = String(key).slice(LEASE_RECORD_PREFIX.length);
      result.push([name, parseRecord(name, value)!]);
    }
    return result;
  }

  /** Names of stored records that are not live (expired, or from an earlier open). */
  async expiredNames(prefix = ''): Promise<string[]> {
    return this.#serial(async () => (await this.#records(prefix)).filter(([name, record]) => this.#live(name, record) === undefined).map(([name]) => name));
  }

  /** The restart rule: records from earlier opens are expired; delete them with their bound keys. */
  async #expireEarlierOpens(): Promise<void> {
    for (const [name, record] of await this.#records('')) {
      if (record.instanceId === this.#instanceId) continue;
      await this.#deleteRecord(name, record.nonce, undefined);
      this.#stats.expiries++;
    }
  }

  /**
   * The fence behind tx.requireLease (and the fence and lease write options):
   * LeaseLostError now unless `token` holds `name`; otherwise the check the commit
   * runs under the commit lock. The record is read through `tx`, so it is in the
   * read set: a commit that changed the lease after the transaction's read version
   * (release, force release, expiry's deletion, renew) makes the commit conflict and
   * re-run, failing then if the lease is gone. The check under the lock closes the
   * rest: the deadline passed (the expiry timer's commit may not have run yet) or
   * this open saw the acquisition end.
   */
  async fence(tx: TransactionHandle, name: string, token: number): Promise<LeaseFence> {
    checkName(name);
    checkToken(token);
    const key = recordKey(name);
    const held = this.#live(name, parseRecord(name, await tx.get(key)));
    if (held === undefined || held.token !== token) throw new LeaseLostError(name, token, 'not the current holder at this transaction');
    const check = (): Error | undefined => (this.#held.get(name) === held && performance.now() < held.deadlineMs
      ? undefined
      : new LeaseLostError(name, token, 'lost before the commit (expired, released, or acquired again)'));
    return { recordKey: key, check };
  }

  /**
   * A put, delete or batch with lease options (write-options.ts), as one store
   * transaction run by `run`: `fence` requires the lease at commit; `lease` requires
   * it too, adds the put keys to the record's bound keys (deleted by the commit that
   * ends the lease) and runs under lease.operations, as every write of a record does.
   * Answers the commit (undefined when nothing was written).
   */
  async write(
    options: ResolvedWriteOptions,
    operations: readonly BatchOperation[],
    run: (body: (tx: TransactionHandle) => Promise<void>) => Promise<CommitResult | undefined>,
  ): Promise<CommitResult | undefined> {
    const { lease, fence } = options;
    // Early refusals: a token that does not hold the lease (or another owner's) now.
    if (fence !== undefined) this.#checkHolder(fence.name, fence.token, fence.owner);
    if (lease !== undefined) this.#checkHolder(lease.name, lease.token, lease.owner);
    const boundKeys = lease === undefined ? [] : leaseBoundKeys(operations);
    const body = async (tx: TransactionHandle): Promise<void> => {
      if (fence !== undefined) await tx.requireLease(fence.name, fence.token);
      if (lease !== undefined) await this.#bind(tx, lease.name, lease.token, boundKeys);
      for (const operation of operations) {
        if (operation.type === 'put') tx.put(operation.key, operation.value);
        else tx.delete(operation.key);
      }
      const failpoint = this[afterLeaseCheck];
      if (failpoint !== undefined) await failpoint();
    };
    return lease === undefined ? run(body) : this.#serial(() => run(body));
  }

  /** Requires the lease and adds `keys` to its record's bound keys (REQUIRES: lease.operations held). */
  async #bind(tx: TransactionHandle, name: string, token: number, keys: readonly string[]): Promise<void> {
    this.#operationLock.assertHeld();
    await tx.requireLease(name, token);
    const record = parseRecord(name, await tx.get(recordKey(name)));
    assert(record !== undefined, 'a lease that requireLease accepted has a record');
    const added = keys.filter((key) => !record.boundKeys.includes(key));
    if (added.length === 0) return;
    if (record.boundKeys.length + added.length > LEASE_BOUND_KEYS_MAX) throw new RangeError(`a lease binds at most ${LEASE_BOUND_KEYS_MAX} keys`);
    writeReservedKeys(() => tx.put(recordKey(name), { ...record, boundKeys: [...record.boundKeys, ...added] }));
  }

  /**
   * Failpoint for tests: awaited inside a lease write's transaction after its lease
   * checks and writes, before the commit (the window a paused holder would have).
   * A `lease` write runs it under lease.operations: there it must not call a lease
   * operation (it would wait for itself); a `fence`-only write holds no lease lock.
   */
  [afterLeaseCheck]: (() => Promise<void>) | undefined;

  stats(): LeaseStats {
    return { ...this.#stats, held: this.#held.size };
  }
}
