/**
 * A transaction's buffered writes, one per key (the last write of a key wins and
 * moves to the end), with the running total of their encoded bytes. Shared by
 * transaction() and transactionSync(), which enforce the same limits.
 *
 * Invariants: `bytes` is the sum of `operationsSizeBytes` over `writes`; at most
 * TRANSACTION_OPERATIONS_MAX keys; `bytes` never exceeds the commit limit given to add().
 */
import { operationSizeBytes, type PreparedOperation } from '../commit/prepare.js';
import { TransactionLimitError } from '../errors.js';
import { TRANSACTION_OPERATIONS_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

export class WriteSet {
  /**
   * By internal key, in the order of each key's last write: the operation itself (its
   * WAL and memory form at once), no wrapper per write.
   */
  readonly writes = new Map<string, PreparedOperation>();
  bytes = 0;

  /** Buffers one put or delete; a limit exceeded throws TransactionLimitError and buffers nothing. */
  add(prepared: PreparedOperation, commitBytesMax: number): void {
    const key = prepared.key;
    const previous = this.writes.get(key);
    const bytes = this.bytes - (previous === undefined ? 0 : operationSizeBytes(previous)) + operationSizeBytes(prepared);
    if (previous === undefined && this.writes.size >= TRANSACTION_OPERATIONS_MAX) {
      throw new TransactionLimitError('operations', `transaction writes more than ${TRANSACTION_OPERATIONS_MAX} keys`);
    }
    if (bytes > commitBytesMax) {
      throw new TransactionLimitError('bytes', `transaction writes ${bytes} bytes, over the limit of ${commitBytesMax} for one commit`);
    }
    this.writes.delete(key);
    this.writes.set(key, prepared);
    this.bytes = bytes;
  }

  /**
   * The buffered operations as one commit's array, in write order (the pipeline takes
   * it as both the WAL and the memory-index operations: prepare.ts's PreparedOperation
   * is both). REQUIRES: no write after this (the transaction is sealed).
   */
  operations(): PreparedOperation[] {
    const operations = new Array<PreparedOperation>(this.writes.size);
    let index = 0;
    for (const operation of this.writes.values()) operations[index++] = operation;
    assert(index === operations.length, 'one operation per buffered key');
    return operations;
  }
}
