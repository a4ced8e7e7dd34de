/**
 * Validation and encoding of a commit's operations, before anything is queued:
 * a bad key, an unencodable or oversized value, or an oversized batch is refused
 * here with a typed error, and nothing reaches the commit path.
 *
 * A batch that names a key twice keeps the last operation for it (as if applied in
 * order); the WAL and the memory index both see one operation per key per commit.
 *
 * Each operation is one PreparedOperation object that is both its WAL form and its
 * memory-index form, and a commit's walOperations and indexOperations are the same
 * array: a batch's operations live until the batch is applied (past the WAL write and
 * its fdatasync), so whatever is made per operation here is promoted to V8's old
 * generation and drives peak RSS (issue 7). Invariant: a put's value is exactly the
 * bytes its slot stands for (the slot's own encoding, or the encoding of the
 * immutable value it is), or, for a string value, the string itself, which the WAL
 * encoder writes as those bytes; a delete's slot is TOMBSTONE and its value is empty.
 */
import { BatchTooLargeError, describeValue, InvalidOptionError } from '../errors.js';
import { internalKey } from '../codec/keys.js';
import { checkStringValue, encodeValue, storedBytesValue, storedValue } from '../codec/values.js';
import { BATCH_OPERATIONS_MAX } from '../limits.js';
import { TABLE_GAVE_UP, takeKeyTable } from './batch-keys.js';
import { checkWritableKey, valueBytesMaxFor } from '../lease/reserved-keys.js';
import type { IndexOperation } from '../memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';
import {
  DELETE_OVERHEAD_BYTES,
  OPERATION_DELETE,
  OPERATION_PUT,
  PUT_OVERHEAD_BYTES,
  valueSizeBytes,
  type EncodableOperation,
  type EncodableValue,
} from '../wal/wal-format.js';

/**
 * One operation in both forms at once: the WAL encoder reads type, key and value
 * (EncodableOperation), the memory index reads key and slot (IndexOperation). A
 * delete carries the shared empty value (one object shape for both types; the
 * encoder writes no value for a delete).
 */
export interface PreparedOperation {
  type: typeof OPERATION_PUT | typeof OPERATION_DELETE;
  /** The internal key string: the WAL encoder writes its bytes (no key buffer per commit). */
  key: string;
  /** The msgpack bytes, a byte value's EncodedValue (its slot), or a string value itself (the WAL encoder writes its encoding). */
  value: EncodableValue;
  slot: VersionSlot;
}

export interface PreparedCommit {
  /** The same array as indexOperations (see the module header). */
  walOperations: readonly EncodableOperation[];
  indexOperations: readonly IndexOperation[];
  operationsSizeBytes: number;
}

export type BatchOperation =
  | { type: 'put'; key: string | Uint8Array; value: unknown }
  | { type: 'del'; key: string | Uint8Array };

const NO_VALUE = new Uint8Array(0);

/** The internal key of a write; keys under the reserved prefix only from the lease module. */
function writableKey(key: unknown): string {
  const internal = internalKey(key);
  checkWritableKey(internal);
  return internal;
}

function putOperation(internal: string, value: unknown, maxValueBytes: number): PreparedOperation {
  if (typeof value === 'string') {
    // Kept as itself in memory and written by the WAL encoder as its msgpack bytes.
    checkStringValue(value, maxValueBytes);
    return { type: OPERATION_PUT, key: internal, value, slot: value };
  }
  // A byte value goes straight into a shared slab (one object kept per value, codec/values.ts),
  // and the WAL encoder takes that object too: no view of the slab lives with the commit.
  const bytes = storedBytesValue(value, maxValueBytes);
  if (bytes !== undefined) return { type: OPERATION_PUT, key: internal, value: bytes, slot: bytes };
  const encoded = encodeValue(value, maxValueBytes);
  return { type: OPERATION_PUT, key: internal, value: encoded, slot: storedValue(value, encoded) };
}

function deleteOperation(internal: string): PreparedOperation {
  return { type: OPERATION_DELETE, key: internal, value: NO_VALUE, slot: TOMBSTONE };
}

function commitOf(operations: readonly PreparedOperation[], operationsSizeBytes: number): PreparedCommit {
  return { walOperations: operations, indexOperations: operations, operationsSizeBytes };
}

export function preparePut(key: unknown, value: unknown, maxValueBytes: number): PreparedCommit {
  const operation = preparePutOperation(key, value, maxValueBytes);
  return commitOf([operation], encodedSizeBytes(operation));
}

export function prepareDelete(key: unknown): PreparedCommit {
  const operation = prepareDeleteOperation(key);
  return commitOf([operation], encodedSizeBytes(operation));
}

/**
 * One put, validated and encoded, without a PreparedCommit and one-element array
 * around it: a transaction buffers operations by key and builds its commit's one
 * array at commit (issue 12: objects per write). Its size is operationSizeBytes.
 */
export function preparePutOperation(key: unknown, value: unknown, maxValueBytes: number): PreparedOperation {
  return putOperation(writableKey(key), value, maxValueBytes);
}

/** One delete, validated, as preparePutOperation. */
export function prepareDeleteOperation(key: unknown): PreparedOperation {
  return deleteOperation(writableKey(key));
}

/**
 * preparePutOperation for a key already in internal form (internalKey's result, as a
 * transaction keeps the keys it read): checked as writable, not encoded again.
 */
export function preparePutInternal(internal: string, value: unknown, maxValueBytes: number): PreparedOperation {
  checkWritableKey(internal);
  // A lease record or audit entry is held to its fields' limits, not to the user's maxValueBytes (reserved-keys.ts).
  return putOperation(internal, value, valueBytesMaxFor(internal, maxValueBytes));
}

/** prepareDeleteOperation for a key already in internal form, as preparePutInternal. */
export function prepareDeleteInternal(internal: string): PreparedOperation {
  checkWritableKey(internal);
  return deleteOperation(internal);
}

/** The bytes an operation adds to its commit's WAL record (operationsSizeBytes counts these). */
export function operationSizeBytes(operation: PreparedOperation): number {
  return encodedSizeBytes(operation);
}

/**
 * One batch's operations, validated and encoded in order. The result holds one
 * operation per key, in the order of each key's last operation, built straight into
 * one array sized for the batch (no growth copies): a 100,000-operation bulk batch
 * lives until it is applied, so per-operation wrappers (a PreparedCommit and two
 * one-element arrays each, later a WAL and an index object each) were promoted to the
 * old generation and grew the heap (issue 7, load RSS).
 */
export function prepareBatch(operations: unknown, maxValueBytes: number, commitBytesMax: number): PreparedCommit {
  if (!Array.isArray(operations)) throw new InvalidOptionError('operations', 'batch() takes an array of operations');
  const count = operations.length;
  if (count > BATCH_OPERATIONS_MAX) {
    throw new BatchTooLargeError(`batch has ${count} operations, over the limit of ${BATCH_OPERATIONS_MAX}`);
  }
  // Preallocated: the loop writes every index before the array is used.
  const prepared = new Array<PreparedOperation | undefined>(count);
  // Each key's earlier operation, through a table of positions kept across batches
  // (batch-keys.ts; a Set of the keys was half of this function's CPU, issue 7); a Map of
  // positions only if the table gives up (keys made to collide).
  const table = takeKeyTable(count);
  let positions: Map<string, number> | undefined;
  let operationsSizeBytes = 0;
  let repeats = 0;
  try {
    for (let index = 0; index < count; index++) {
      const operation: unknown = operations[index];
      const type = operationType(operation, index);
      const internal = writableKey((operation as { key?: unknown }).key);
      const next = type === 'put'
        ? putOperation(internal, (operation as { value?: unknown }).value, maxValueBytes)
        : deleteOperation(internal);
      let earlier = positions === undefined ? table.earlierPosition(internal, index, prepared) : positions.get(internal) ?? -1;
      if (earlier === TABLE_GAVE_UP) {
        positions = positionsBefore(prepared, index);
        earlier = positions.get(internal) ?? -1;
      }
      positions?.set(internal, index);
      prepared[index] = next;
      operationsSizeBytes += encodedSizeBytes(next);
      if (earlier < 0) continue;
      operationsSizeBytes -= encodedSizeBytes(prepared[earlier]!);
      prepared[earlier] = undefined;
      repeats++;
    }
  } finally {
    table.giveBack();
  }
  const keyCount = count - repeats;
  const result = repeats === 0
    ? (prepared as PreparedOperation[])
    : prepared.filter(isDefined);
  assert(result.length === keyCount, 'one operation per key');
  if (operationsSizeBytes > commitBytesMax) {
    throw new BatchTooLargeError(`batch encodes to ${operationsSizeBytes} bytes, over the limit of ${commitBytesMax} bytes for one commit`);
  }
  return commitOf(result, operationsSizeBytes);
}

/** The position of each key's latest operation among prepared[0, end) (an earlier one is left undefined). */
function positionsBefore(prepared: readonly (PreparedOperation | undefined)[], end: number): Map<string, number> {
  const positions = new Map<string, number>();
  for (let index = 0; index < end; index++) {
    const operation = prepared[index];
    if (operation === undefined) continue;
    assert(!positions.has(operation.key), 'one defined operation per key before the table gave up');
    positions.set(operation.key, index);
  }
  return positions;
}

function isDefined<Item>(item: Item | undefined): item is Item {
  return item !== undefined;
}

function encodedSizeBytes(operation: PreparedOperation): number {
  return operation.type === OPERATION_PUT
    ? PUT_OVERHEAD_BYTES + operation.key.length + valueSizeBytes(operation.value)
    : DELETE_OVERHEAD_BYTES + operation.key.length;
}

/**
 * A batch operation's type, the operation checked to be an object with only the fields
 * of its type (key and value are checked where they are encoded). A field it does not
 * take is refused as an unknown option is: `{ type: 'put', key, value, asof: 3 }` or a
 * del with a value would otherwise do something other than what its caller believes.
 */
function operationType(operation: unknown, index: number): 'put' | 'del' {
  if (typeof operation !== 'object' || operation === null) {
    throw new InvalidOptionError('operations', `operation ${index} must be an object { type, key, value? }, got ${describeValue(operation)}`);
  }
  const type = (operation as { type?: unknown }).type;
  if (type !== 'put' && type !== 'del') {
    throw new InvalidOptionError('operations', `operation ${index}: type must be 'put' or 'del', got ${describeValue(type)}`);
  }
  // for-in over a plain object walks V8's enum cache: no array per operation, unlike Object.keys.
  for (const field in operation) {
    if (field === 'type' || field === 'key' || field === 'value') continue;
    if (Object.hasOwn(operation, field)) refuseField(index, type, field);
  }
  if (type === 'del' && (operation as { value?: unknown }).value !== undefined) refuseField(index, type, 'value');
  return type;
}

function refuseField(index: number, type: 'put' | 'del', field: string): never {
  throw new InvalidOptionError('operations', `operation ${index} (${type}) has a field ${field} it does not take `
    + `(a put takes type, key and value; a del, type and key; options such as lease go in batch()'s second argument)`);
}
