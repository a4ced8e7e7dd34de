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
import { assert } from '../util/assert.js';
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

/**
 * One batch's operations, validated and encoded in order. The result holds one WAL
 * operation and one index operation per key, in the order of each key's last
 * operation, built straight into the two arrays: a 100,000-operation bulk batch
 * lives until it is applied, so per-operation wrappers (a PreparedCommit and two
 * one-element arrays each) were promoted to the old generation and grew the heap
 * by about 50 MiB per such batch (issue 7, load RSS).
 */
export function prepareBatch(operations: unknown, maxValueBytes: number, commitBytesMax: number): PreparedCommit {
  if (!Array.isArray(operations)) throw new InvalidOptionError('operations', 'batch() takes an array of operations');
  if (operations.length > BATCH_OPERATIONS_MAX) {
    throw new BatchTooLargeError(`batch has ${operations.length} operations, over the limit of ${BATCH_OPERATIONS_MAX}`);
  }
  const walOperations: (EncodableOperation | undefined)[] = [];
  const indexOperations: (IndexOperation | undefined)[] = [];
  /** Position of each key's latest operation in the two arrays; an earlier one is left undefined. */
  const positions = new Map<string, number>();
  let operationsSizeBytes = 0;
  for (const operation of operations) {
    const type = operationType(operation);
    const { key, value } = operation as { key?: unknown; value?: unknown };
    const internal = writableKey(key);
    const earlier = positions.get(internal);
    if (type === 'put') {
      const prepared = prepareValue(value, maxValueBytes);
      walOperations.push({ type: OPERATION_PUT, key: internal, value: prepared.encoded });
      indexOperations.push({ key: internal, slot: prepared.stored });
      operationsSizeBytes += PUT_OVERHEAD_BYTES + internal.length + prepared.encoded.length;
    } else {
      walOperations.push({ type: OPERATION_DELETE, key: internal });
      indexOperations.push({ key: internal, slot: TOMBSTONE });
      operationsSizeBytes += DELETE_OVERHEAD_BYTES + internal.length;
    }
    if (earlier !== undefined) {
      operationsSizeBytes -= encodedSizeBytes(walOperations[earlier]!);
      walOperations[earlier] = undefined;
      indexOperations[earlier] = undefined;
    }
    positions.set(internal, walOperations.length - 1);
  }
  const result: PreparedCommit = positions.size === walOperations.length
    ? { walOperations: walOperations as EncodableOperation[], indexOperations: indexOperations as IndexOperation[], operationsSizeBytes }
    : { walOperations: walOperations.filter(isDefined), indexOperations: indexOperations.filter(isDefined), operationsSizeBytes };
  assert(result.walOperations.length === positions.size && result.indexOperations.length === positions.size, 'one operation per key');
  if (result.operationsSizeBytes > commitBytesMax) {
    throw new BatchTooLargeError(`batch encodes to ${result.operationsSizeBytes} bytes, over the limit of ${commitBytesMax} bytes for one commit`);
  }
  return result;
}

function isDefined<Item>(item: Item | undefined): item is Item {
  return item !== undefined;
}

function encodedSizeBytes(operation: EncodableOperation): number {
  return operation.type === OPERATION_PUT
    ? PUT_OVERHEAD_BYTES + operation.key.length + operation.value.length
    : DELETE_OVERHEAD_BYTES + operation.key.length;
}

/** A batch operation's type, the operation checked to be an object (key and value are checked where they are encoded). */
function operationType(operation: unknown): 'put' | 'del' {
  if (typeof operation !== 'object' || operation === null) {
    throw new InvalidOptionError('operations', 'each batch operation must be an object { type, key, value? }');
  }
  const type = (operation as { type?: unknown }).type;
  if (type === 'put' || type === 'del') return type;
  throw new InvalidOptionError('operations', `operation type must be 'put' or 'del', got ${String(type)}`);
}
