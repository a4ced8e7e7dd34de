/**
 * Lease records in the store (lease-record.ts has their shape): reading every record
 * under a name prefix, and deleting one record with its bound keys, each as one store
 * read or one serializable transaction.
 *
 * Invariants: a record is deleted together with the bound keys it still owns (and the
 * audit entry of a force release) in one commit, so no reader sees a key the lease
 * owns without its lease (lease-bound-keys.ts: a key written since is detached);
 * a deletion names the acquisition (nonce) it ends, and leaves a record of another
 * acquisition alone. Callers hold lease.operations (lease-manager.ts).
 */
import type { TransactionHandle } from '../transaction/transaction.js';
import type { TransactionOptions } from '../transaction/run-transaction.js';
import type { HistoryEntry } from '../memory/history.js';
import { auditKey, type LeaseRecord, LEASE_RECORD_PREFIX, parseRecord, recordKey } from './lease-record.js';
import { writeReservedKeys } from './reserved-keys.js';
import { deleteOwnedBoundKeys } from './lease-bound-keys.js';

/** The parts of the store the leases use (the Store class implements it). */
export interface LeaseStorePort {
  transaction<T>(body: (tx: TransactionHandle) => T | Promise<T>, options?: TransactionOptions): Promise<T>;
  history(key: string, options?: { limit?: number }): Promise<HistoryEntry[]>;
  scan(options?: { gte?: string; lt?: string }): AsyncIterableIterator<[string | Uint8Array, unknown]>;
}

/** Every stored record whose name starts with `prefix`, live or not, in name order. */
export async function readRecords(store: LeaseStorePort, prefix: string): Promise<Array<[string, LeaseRecord]>> {
  const result: Array<[string, LeaseRecord]> = [];
  const from = LEASE_RECORD_PREFIX + prefix;
  for await (const [key, value] of store.scan({ gte: from, lt: `${from}\uffff` })) {
    const name = String(key).slice(LEASE_RECORD_PREFIX.length);
    result.push([name, parseRecord(name, value)!]);
  }
  return result;
}

/**
 * Deletes the record of `name` (if it is still acquisition `nonce`, or any when
 * undefined) and the bound keys it still owns, recording `audit` (with the previous owner) when
 * given. Answers the deleted record, or undefined when there was none to delete.
 */
export async function deleteRecord(store: LeaseStorePort, name: string, nonce: string | undefined, audit: object | undefined): Promise<LeaseRecord | undefined> {
  return store.transaction(async (tx) => {
    const current = parseRecord(name, await tx.get(recordKey(name)));
    if (current === undefined || (nonce !== undefined && current.nonce !== nonce)) return undefined;
    await deleteOwnedBoundKeys(store, tx, name, current);
    writeReservedKeys(() => {
      tx.delete(recordKey(name));
      if (audit !== undefined) tx.put(auditKey(name), { ...audit, previousOwner: current.owner });
    });
    return current;
  });
}
