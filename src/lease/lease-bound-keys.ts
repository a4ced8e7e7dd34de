/**
 * Lease-bound keys (the `lease` write option): the put keys of a write are added to
 * its lease's record, and the commit that ends the lease deletes those the lease
 * still owns.
 *
 * Ownership (etcd's rule: a key belongs to the lease of its latest put): a bound key
 * is owned while its newest version is the one the lease's last bound write of it
 * made. Any later write of the key (a plain put or delete, a fenced write, a write
 * bound to another lease) detaches it, and the lease's end leaves it alone; a later
 * write bound to the same lease attaches it again. The record keeps, per bound key,
 * the version of that write (`boundVersions`): the write's commit also writes the
 * record, with 0 for the keys it binds (its version is not known while the commit is
 * built), and the record's next write (a bind, a renewal) replaces those zeros with
 * the version of the record it replaces, read back from the record's history (its
 * newest version is always retained). Lease operations run one at a time (lease.operations),
 * so no other commit writes the record in between.
 *
 * Invariants: bound keys are strings, distinct, never reserved keys, and at most
 * LEASE_BOUND_KEYS_MAX per lease (checked per write and for the record's total, after
 * dropping the detached keys when the total would pass it: a long-lived lease binding
 * and detaching a key per job was refused after its 1,024th job while owning none); the
 * record is updated in the writing transaction itself, after requireLease, so the
 * binding and the write commit together or not at all. The ending commit reads each
 * key it deletes (the key joins its read set), so a write of the key after the
 * ending transaction's read version makes it conflict and re-run: it never deletes a
 * value it did not see.
 */
import { InvalidKeyError, InvalidOptionError } from '../errors.js';
import type { TransactionHandle } from '../transaction/transaction.js';
import type { BatchOperation } from '../commit/prepare.js';
import { LEASE_BOUND_KEYS_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { type LeaseRecord, parseRecord, recordKey } from './lease-record.js';
import type { LeaseStorePort } from './lease-records.js';
import { checkWritableKey, writeReservedKeys } from './reserved-keys.js';

/** A bound key's version in `boundVersions` meaning: bound by the commit that wrote this version of the record. */
const BOUND_BY_THIS_RECORD = 0;

/** The put keys of a lease-bound write, distinct, as stored in the record: strings only, never reserved. */
export function leaseBoundKeys(operations: readonly BatchOperation[]): string[] {
  const keys = new Set<string>();
  for (const operation of operations) {
    if (operation.type !== 'put') continue;
    // A misuse of the key, not a lost lease: the key's own typed errors.
    if (typeof operation.key !== 'string') throw new InvalidKeyError('type', `a lease-bound key is a string, got ${typeof operation.key}`);
    checkWritableKey(operation.key); // the reserved prefix is ASCII: a string starting with it has an internal key that does
    keys.add(operation.key);
  }
  if (keys.size > LEASE_BOUND_KEYS_MAX) throw new InvalidOptionError('lease', `a lease binds at most ${LEASE_BOUND_KEYS_MAX} keys`);
  return [...keys];
}

/** The version of the newest write of `name`'s record (REQUIRES: lease.operations held, the record exists). */
async function recordVersion(store: LeaseStorePort, name: string): Promise<number> {
  const [newest] = await store.history(recordKey(name), { limit: 1 });
  assert(newest !== undefined && !newest.deleted, `the lease record of ${name} has a newest version`);
  return newest.version;
}

/**
 * `record` (the record's newest version, read under lease.operations) ready to be
 * written again: the keys its own commit bound get that commit's version. The same
 * record when nothing is pending (no history read).
 */
export async function settleBoundVersions(store: LeaseStorePort, name: string, record: LeaseRecord): Promise<LeaseRecord> {
  const versions = record.boundVersions;
  assert(versions !== undefined, 'a record of this open records its bound versions');
  if (!versions.includes(BOUND_BY_THIS_RECORD)) return record;
  const version = await recordVersion(store, name);
  return { ...record, boundVersions: versions.map((bound) => (bound === BOUND_BY_THIS_RECORD ? version : bound)) };
}

/** Requires the lease in `tx` and binds `keys` to it (REQUIRES: lease.operations held by the caller). */
export async function bindKeys(store: LeaseStorePort, tx: TransactionHandle, name: string, token: number, keys: readonly string[]): Promise<void> {
  await tx.requireLease(name, token);
  if (keys.length === 0) return;
  const current = parseRecord(name, await tx.get(recordKey(name)));
  assert(current !== undefined, 'a lease that requireLease accepted has a record');
  const rebound = new Set(keys);
  let record = current;
  let added = keys.filter((key) => !record.boundKeys.includes(key));
  if (record.boundKeys.length + added.length > LEASE_BOUND_KEYS_MAX) {
    // The limit is on the keys the lease owns: detached ones (written since by others) go first.
    record = await withoutDetachedKeys(store, await settleBoundVersions(store, name, record), rebound);
    added = keys.filter((key) => !record.boundKeys.includes(key));
    if (record.boundKeys.length + added.length > LEASE_BOUND_KEYS_MAX) throw new InvalidOptionError('lease', `a lease binds at most ${LEASE_BOUND_KEYS_MAX} keys`);
  }
  // Every key this write puts is bound by its commit, those bound before included (rebinding attaches a detached key again).
  record = await settleBoundVersions(store, name, record);
  const boundKeys = [...record.boundKeys, ...added];
  const boundVersions = boundKeys.map((key, index) => (rebound.has(key) ? BOUND_BY_THIS_RECORD : record.boundVersions![index]!));
  writeReservedKeys(() => tx.put(recordKey(name), { ...record, boundKeys, boundVersions }));
}

/**
 * `record` (bound versions settled) without the keys detached since their binding (their
 * newest version is not the bound one: written or deleted since by another write), except
 * those in `keep` (bound again by the write at hand). A detached key never becomes owned
 * again but by a write bound to this lease, and those run one at a time under
 * lease.operations: dropping it changes nothing the lease's end would delete.
 */
async function withoutDetachedKeys(store: LeaseStorePort, record: LeaseRecord, keep: ReadonlySet<string>): Promise<LeaseRecord> {
  const versions = record.boundVersions!;
  const boundKeys: string[] = [];
  const boundVersions: number[] = [];
  for (let index = 0; index < record.boundKeys.length; index++) {
    const key = record.boundKeys[index]!;
    const version = versions[index]!;
    assert(version !== BOUND_BY_THIS_RECORD, 'bound versions are settled before detached keys are dropped');
    if (!keep.has(key)) {
      const [newest] = await store.history(key, { limit: 1 });
      if (newest === undefined || newest.deleted || newest.version !== version) continue;
    }
    boundKeys.push(key);
    boundVersions.push(version);
  }
  return { ...record, boundKeys, boundVersions };
}

/**
 * Deletes in `tx`, the transaction that ends the lease of `record` (the record's
 * newest version, read through `tx`), every bound key the lease still owns. A record
 * written before bound versions were recorded deletes every bound key, as then.
 */
export async function deleteOwnedBoundKeys(store: LeaseStorePort, tx: TransactionHandle, name: string, record: LeaseRecord): Promise<void> {
  if (record.boundKeys.length === 0) return;
  const versions = record.boundVersions;
  if (versions === undefined) {
    for (const key of record.boundKeys) tx.delete(key);
    return;
  }
  const pendingVersion = versions.includes(BOUND_BY_THIS_RECORD) ? await recordVersion(store, name) : 0;
  for (let index = 0; index < record.boundKeys.length; index++) {
    const key = record.boundKeys[index]!;
    const boundVersion = versions[index] === BOUND_BY_THIS_RECORD ? pendingVersion : versions[index]!;
    const [newest] = await store.history(key, { limit: 1 });
    if (newest === undefined || newest.deleted || newest.version !== boundVersion) continue; // detached: written since
    await tx.get(key); // in the read set: a write of it after this transaction's read version makes the commit re-run
    tx.delete(key);
  }
}
