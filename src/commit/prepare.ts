/**
 * Validation and encoding of a commit's operations, before anything is queued:
 * a bad key, an unencodable or oversized value, or an oversized batch is refused
 * here with a typed error, and nothing reaches the commit path.
 *
 * A batch that names a key twice keeps the last operation for it (as if applied in
 * order); the WAL and the memory index both see one operation per key per commit.
 */
import { BatchTooLargeError, InvalidOptionError } from '../errors.js';
import { internalKey } from '../codec/keys.js';
import { prepareValue } from '../codec/values.js';
import { BATCH_OPERATIONS_MAX } from '../limits.js';
import { checkWritableKey } from '../lease/reserved-keys.js';
import type { IndexOperation } from '../memory/memory-index.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import {
  DELETE_OVERHEAD_BYTES,
  OPERATION_DELETE,
  OPERATION_PUT,
  PUT_OVERHEAD_BYTES,
  type EncodableOperation,
} from '../wal/wal-format.js';

export interface PreparedCommit {
  /** Keys as internal key strings: the WAL encoder writes their bytes (no key buffer per commit). */
  walOperations: EncodableOperation[];
  indexOperations: IndexOperation[];
  operationsSizeBytes: number;
}

export type BatchOperation =
  | { type: 'put'; key: string | Uint8Array; value: unknown }
  | { type: 'del'; key: string | Uint8Array };

/** The internal key of a write; keys under the reserved prefix only from the lease module. */
function writableKey(key: unknown): string {
  const internal = internalKey(key);
  checkWritableKey(internal);
  return internal;
}

export function preparePut(key: unknown, value: unknown, maxValueBytes: number): PreparedCommit {
  const internal = writableKey(key);
  const prepared = prepareValue(value, maxValueBytes);
  return {
    walOperations: [{ type: OPERATION_PUT, key: internal, value: prepared.encoded }],
    indexOperations: [{ key: internal, slot: prepared.stored }],
    operationsSizeBytes: PUT_OVERHEAD_BYTES + internal.length + prepared.encoded.length,
  };
}

export function prepareDelete(key: unknown): PreparedCommit {
  const internal = writableKey(key);
  return {
    walOperations: [{ type: OPERATION_DELETE, key: internal }],
    indexOperations: [{ key: internal, slot: TOMBSTONE }],
    operationsSizeBytes: DELETE_OVERHEAD_BYTES + internal.length,
  };
}

export function prepareBatch(operations: unknown, maxValueBytes: number, commitBytesMax: number): PreparedCommit {
  if (!Array.isArray(operations)) throw new InvalidOptionError('operations', 'batch() takes an array of operations');
  if (operations.length > BATCH_OPERATIONS_MAX) {
    throw new BatchTooLargeError(`batch has ${operations.length} operations, over the limit of ${BATCH_OPERATIONS_MAX}`);
  }
  const byKey = new Map<string, PreparedCommit>();
  for (const operation of operations) {
    const prepared = prepareOne(operation, maxValueBytes);
    const key = prepared.indexOperations[0]!.key;
    byKey.delete(key);
    byKey.set(key, prepared);
  }
  const result: PreparedCommit = { walOperations: [], indexOperations: [], operationsSizeBytes: 0 };
  for (const prepared of byKey.values()) {
    result.walOperations.push(prepared.walOperations[0]!);
    result.indexOperations.push(prepared.indexOperations[0]!);
    result.operationsSizeBytes += prepared.operationsSizeBytes;
  }
  if (result.operationsSizeBytes > commitBytesMax) {
    throw new BatchTooLargeError(`batch encodes to ${result.operationsSizeBytes} bytes, over the limit of ${commitBytesMax} bytes for one commit`);
  }
  return result;
}

function prepareOne(operation: unknown, maxValueBytes: number): PreparedCommit {
  if (typeof operation !== 'object' || operation === null) {
    throw new InvalidOptionError('operations', 'each batch operation must be an object { type, key, value? }');
  }
  const { type, key, value } = operation as { type?: unknown; key?: unknown; value?: unknown };
  if (type === 'put') return preparePut(key, value, maxValueBytes);
  if (type === 'del') return prepareDelete(key);
  throw new InvalidOptionError('operations', `operation type must be 'put' or 'del', got ${String(type)}`);
}
