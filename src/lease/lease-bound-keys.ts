/**
 * Lease-bound keys (the `lease` write option): the put keys of a write are added to
 * its lease's record, and the commit that ends the lease deletes them.
 *
 * Invariants: bound keys are strings, distinct, never reserved keys, and at most
 * LEASE_BOUND_KEYS_MAX per lease (checked per write and for the record's total); the
 * record is updated in the writing transaction itself, after requireLease, so the
 * binding and the write commit together or not at all.
 */
import { InvalidKeyError, InvalidOptionError } from '../errors.js';
import type { TransactionHandle } from '../transaction/transaction.js';
import type { BatchOperation } from '../commit/prepare.js';
import { LEASE_BOUND_KEYS_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { parseRecord, recordKey } from './lease-record.js';
import { checkWritableKey, writeReservedKeys } from './reserved-keys.js';

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

/** Requires the lease in `tx` and adds `keys` to its record's bound keys (REQUIRES: lease.operations held by the caller). */
export async function bindKeys(tx: TransactionHandle, name: string, token: number, keys: readonly string[]): Promise<void> {
  await tx.requireLease(name, token);
  const record = parseRecord(name, await tx.get(recordKey(name)));
  assert(record !== undefined, 'a lease that requireLease accepted has a record');
  const added = keys.filter((key) => !record.boundKeys.includes(key));
  if (added.length === 0) return;
  if (record.boundKeys.length + added.length > LEASE_BOUND_KEYS_MAX) throw new InvalidOptionError('lease', `a lease binds at most ${LEASE_BOUND_KEYS_MAX} keys`);
  writeReservedKeys(() => tx.put(recordKey(name), { ...record, boundKeys: [...record.boundKeys, ...added] }));
}
