/**
 * A transaction's buffered writes, one per key (the last write of a key wins and
 * moves to the end), with the running total of their encoded bytes. Shared by
 * transaction() and transactionSync(), which enforce the same limits.
 *
 * Invariants: `bytes` is the sum of `operationsSizeBytes` over `writes`; at most
 * TRANSACTION_OPERATIONS_MAX keys; `bytes` never exceeds the commit limit given to add().
 */
import type { PreparedCommit } from '../commit/prepare.js';
import { TransactionLimitError } from '../errors.js';
import { TRANSACTION_OPERATIONS_MAX } from '../limits.js';

export class WriteSet {
  /** By internal key, in the order of each key's last write. */
  readonly writes = new Map<string, PreparedCommit>();
  bytes = 0;

  /** Buffers one put or delete; a limit exceeded throws TransactionLimitError and buffers nothing. */
  add(prepared: PreparedCommit, commitBytesMax: number): void {
    const key = prepared.indexOperations[0]!.key;
    const previous = this.writes.get(key);
    const bytes = this.bytes - (previous?.operationsSizeBytes ?? 0) + prepared.operationsSizeBytes;
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
}
