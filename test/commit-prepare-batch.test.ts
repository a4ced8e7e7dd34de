/**
 * prepareBatch (src/commit/prepare.ts) builds a batch's WAL and index operations
 * straight into two arrays (no per-operation PreparedCommit wrapper; issue 7, load
 * RSS). What it returns must not change: one operation per key, the last one
 * named for it, in the order of those last operations; the size counts only what
 * is kept; the first bad operation is the one refused.
 */
import { describe, expect, it } from 'vitest';
import { EncodedValue } from '../src/codec/value-slabs.js';
import { prepareBatch, preparePut, prepareDelete, type PreparedOperation } from '../src/commit/prepare.js';
import { BatchTooLargeError, InvalidKeyError, InvalidOptionError, InvalidValueError } from '../src/index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { OPERATION_DELETE, OPERATION_PUT } from '../src/wal/wal-format.js';

const VALUE_BYTES_MAX = 1024 * 1024;
const COMMIT_BYTES_MAX = 64 * 1024 * 1024;

describe('prepareBatch', () => {
  it('keeps one operation per key, the last, in the order of the last operations', () => {
    const prepared = prepareBatch([
      { type: 'put', key: 'a', value: 1 },
      { type: 'put', key: 'b', value: 'two' },
      { type: 'del', key: 'a' },
      { type: 'put', key: 'c', value: 3 },
      { type: 'put', key: 'b', value: 'again' },
    ], VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
    expect(prepared.indexOperations.map((operation) => operation.key)).toEqual(['a', 'c', 'b'].map((key) => preparePut(key, 0, VALUE_BYTES_MAX).indexOperations[0]!.key));
    expect(prepared.walOperations.map((operation) => operation.type)).toEqual([OPERATION_DELETE, OPERATION_PUT, OPERATION_PUT]);
    expect(prepared.indexOperations.map((operation) => operation.slot)).toEqual([TOMBSTONE, 3, 'again']);
    const expectedSize = preparePut('c', 3, VALUE_BYTES_MAX).operationsSizeBytes + prepareDelete('a').operationsSizeBytes
      + preparePut('b', 'again', VALUE_BYTES_MAX).operationsSizeBytes;
    expect(prepared.operationsSizeBytes).toBe(expectedSize);
  });

  it('a batch without repeated keys keeps every operation in order, the same as one put each', () => {
    const operations = Array.from({ length: 1000 }, (_, index) => ({ type: 'put' as const, key: `key-${index}`, value: new Uint8Array(16).fill(index & 0xff) }));
    const prepared = prepareBatch(operations, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
    expect(prepared.walOperations).toHaveLength(1000);
    let size = 0;
    operations.forEach((operation, index) => {
      const single = preparePut(operation.key, operation.value, VALUE_BYTES_MAX);
      // One object in both forms; a byte value's slot lies in a shared slab: equal when its encoding is.
      expect(prepared.walOperations[index]).toBe(prepared.indexOperations[index]);
      const { slot, value, ...rest } = prepared.indexOperations[index] as PreparedOperation;
      const { slot: singleSlot, value: singleValue, ...singleRest } = single.indexOperations[0] as PreparedOperation;
      expect(rest).toEqual(singleRest);
      expect(slot).toBeInstanceOf(EncodedValue);
      // The WAL form of a byte value is its slot itself (no view of the slab per operation).
      expect(value).toBe(slot);
      expect(singleValue).toBe(singleSlot);
      expect((slot as EncodedValue).bytes).toEqual((singleSlot as EncodedValue).bytes);
      size += single.operationsSizeBytes;
    });
    expect(prepared.operationsSizeBytes).toBe(size);
  });

  it('the size limit applies to what is kept: overwritten operations do not count', () => {
    const big = 'x'.repeat(600);
    const single = preparePut('k', big, VALUE_BYTES_MAX).operationsSizeBytes;
    const repeated = Array.from({ length: 10 }, () => ({ type: 'put' as const, key: 'k', value: big }));
    expect(prepareBatch(repeated, VALUE_BYTES_MAX, single).operationsSizeBytes).toBe(single);
    const distinct = repeated.map((operation, index) => ({ ...operation, key: `k${index}` }));
    expect(() => prepareBatch(distinct, VALUE_BYTES_MAX, single * 2)).toThrow(BatchTooLargeError);
  });

  it('refuses the first bad operation with its typed error', () => {
    expect(() => prepareBatch('nope', VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidOptionError);
    expect(() => prepareBatch([{ type: 'put', key: 'a', value: 1 }, null], VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidOptionError);
    expect(() => prepareBatch([{ type: 'nope', key: '' }], VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidOptionError);
    expect(() => prepareBatch([{ type: 'put', key: '', value: () => 1 }], VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidKeyError);
    expect(() => prepareBatch([{ type: 'put', key: 'a', value: () => 1 }, { type: 'put', key: '' }], VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidValueError);
    expect(() => prepareBatch([{ type: 'del', key: '' }], VALUE_BYTES_MAX, COMMIT_BYTES_MAX)).toThrow(InvalidKeyError);
  });
});
