/**
 * The lease fences and the writes with lease options: the part of store.leases behind
 * tx.requireLease and the `fence` and `lease` options of put, delete and batch
 * (docs/ARCHITECTURE.md "Leases"; lease-manager.ts runs the rest).
 *
 * Invariants:
 * - A fenced commit is accepted only if, under the commit lock, the acquisition it names
 *   is still this open's holder (LeaseHolders#stillHeld) with its deadline ahead, and no
 *   commit since its read version wrote the lease record: the record is read through the
 *   transaction, so it is in the read set (no check-then-write window).
 * - A renewal's new deadline applies once its commit passed validation (the fence's
 *   accepted hook), so every commit validated after it sees the lease renewed.
 * - A `lease` write (bound keys) runs under lease.operations, as every write of a record
 *   does; a `fence`-only write takes no lease lock.
 */
import { LeaseLostError } from '../errors.js';
import type { LeaseFence, TransactionHandle } from '../transaction/transaction.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import type { BatchOperation } from '../commit/prepare.js';
import type { OrderedMutex } from '../lock/ordered-mutex.js';
import type { ResolvedWriteOptions } from './write-options.js';
import { checkName, checkToken, parseRecord, recordKey } from './lease-record.js';
import type { HeldLease, LeaseHolders } from './lease-holders.js';
import type { LeaseStorePort } from './lease-records.js';
import { bindKeys, leaseBoundKeys } from './lease-bound-keys.js';

export class LeaseFences {
  readonly #store: LeaseStorePort;
  readonly #holders: LeaseHolders;
  readonly #operationLock: OrderedMutex;
  readonly #serial: <T>(operation: () => Promise<T>) => Promise<T>;
  /** Renewals being committed: their transaction, the lease and the new deadline, applied once the commit is validated. */
  readonly #renewals = new WeakMap<TransactionHandle, { held: HeldLease; deadlineMs: number }>();

  constructor(store: LeaseStorePort, holders: LeaseHolders, operationLock: OrderedMutex, serial: <T>(operation: () => Promise<T>) => Promise<T>) {
    this.#store = store;
    this.#holders = holders;
    this.#operationLock = operationLock;
    this.#serial = serial;
  }

  /** `tx` renews `held` to `deadlineMs`: applied by the fence's accepted hook, once its commit is validated. */
  renewing(tx: TransactionHandle, held: HeldLease, deadlineMs: number): void {
    this.#renewals.set(tx, { held, deadlineMs });
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
    const held = this.#holders.live(name, parseRecord(name, await tx.get(key)));
    if (held === undefined || held.token !== token) throw new LeaseLostError(name, token, 'not the current holder at this transaction');
    const check = (): Error | undefined => (this.#holders.stillHeld(name, held)
      ? undefined
      : new LeaseLostError(name, token, 'lost before the commit (expired, released, or acquired again)'));
    const accepted = (): void => {
      const renewal = this.#renewals.get(tx);
      if (renewal?.held === held) held.deadlineMs = Math.max(held.deadlineMs, renewal.deadlineMs);
    };
    return { recordKey: key, check, accepted };
  }

  /**
   * A put, delete or batch with lease options (write-options.ts), as one store
   * transaction run by `run`: `fence` requires the lease at commit; `lease` requires
   * it too, adds the put keys to the record's bound keys (deleted by the commit that
   * ends the lease) and runs under lease.operations, as every write of a record does.
   * `failpoint` (tests) is awaited after the lease checks and writes, before the commit.
   * Answers the commit (undefined when nothing was written).
   */
  async write(
    options: ResolvedWriteOptions,
    operations: readonly BatchOperation[],
    run: (body: (tx: TransactionHandle) => Promise<void>) => Promise<CommitResult | undefined>,
    failpoint: () => (() => Promise<void>) | undefined,
  ): Promise<CommitResult | undefined> {
    const { lease, fence } = options;
    // Early refusals: a token that does not hold the lease (or another owner's) now.
    if (fence !== undefined) this.#holders.check(fence.name, fence.token, fence.owner);
    if (lease !== undefined) this.#holders.check(lease.name, lease.token, lease.owner);
    const boundKeys = lease === undefined ? [] : leaseBoundKeys(operations);
    const body = async (tx: TransactionHandle): Promise<void> => {
      if (fence !== undefined) await tx.requireLease(fence.name, fence.token);
      if (lease !== undefined) {
        this.#operationLock.assertHeld();
        await bindKeys(this.#store, tx, lease.name, lease.token, boundKeys);
      }
      for (const operation of operations) {
        if (operation.type === 'put') tx.put(operation.key, operation.value);
        else tx.delete(operation.key);
      }
      const paused = failpoint();
      if (paused !== undefined) await paused();
    };
    return lease === undefined ? run(body) : this.#serial(() => run(body));
  }
}
