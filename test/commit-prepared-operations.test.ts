/**
 * The prepared operation (src/commit/prepare.ts) is one object per operation, both
 * its WAL form and its memory-index form (issue 7: garbage per put), and a batch
 * detects repeated keys with a Set until the first repeat, then with a Map of
 * positions. What must hold whatever the allocation strategy:
 * - a batch keeps the last operation of each key, in the order of those last
 *   operations, wherever the first repeat falls (checked against a plain model);
 * - a put's WAL value is exactly the encoding of what memory keeps (encodeStored of
 *   its slot), a delete writes no value, and a record round-trips through the WAL;
 * - a binary key's internal string is one char per byte of the view (not of its
 *   whole ArrayBuffer), for every byte value.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey, internalKeyFromBytes } from '../src/codec/keys.js';
import { encodeStored, type StoredValue } from '../src/codec/values.js';
import { prepareBatch, prepareDelete, preparePut } from '../src/commit/prepare.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import {
  COMMIT_HEADER_BYTES,
  encodeRecord,
  OPERATION_DELETE,
  OPERATION_PUT,
  RECORD_HEADER_BYTES,
  type Hash64,
} from '../src/wal/wal-format.js';
import { decodeRecord } from '../src/wal/wal-record-read.js';

const VALUE_BYTES_MAX = 1024 * 1024;
const COMMIT_BYTES_MAX = 64 * 1024 * 1024;

type Operation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

/** A small deterministic generator (no timing, no global randomness). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** The plain model: the last operation per key, in the order of those last operations. */
function lastPerKey(operations: readonly Operation[]): Operation[] {
  const last = new Map<string, number>();
  operations.forEach((operation, index) => last.set(operation.key, index));
  return operations.filter((operation, index) => last.get(operation.key) === index);
}

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('prepared operations', () => {
  it('a batch keeps the last operation per key wherever the first repeat falls (Set, then Map)', () => {
    const random = generator(7);
    for (let round = 0; round < 200; round++) {
      const length = 1 + Math.floor(random() * 60);
      const distinctKeys = 1 + Math.floor(random() * (round % 2 === 0 ? 200 : 12));
      const operations: Operation[] = Array.from({ length }, (_, index) => {
        const key = `k${Math.floor(random() * distinctKeys)}`;
        return random() < 0.25 ? { type: 'del', key } : { type: 'put', key, value: index % 3 === 0 ? { index } : `value-${index}` };
      });
      const prepared = prepareBatch(operations, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
      const expected = lastPerKey(operations);
      expect(prepared.indexOperations.map((operation) => operation.key)).toEqual(expected.map((operation) => operation.key));
      expect(prepared.walOperations.map((operation) => operation.type))
        .toEqual(expected.map((operation) => (operation.type === 'put' ? OPERATION_PUT : OPERATION_DELETE)));
      let size = 0;
      for (const operation of expected) {
        size += (operation.type === 'put' ? preparePut(operation.key, operation.value, VALUE_BYTES_MAX) : prepareDelete(operation.key)).operationsSizeBytes;
      }
      expect(prepared.operationsSizeBytes).toBe(size);
    }
  });

  it('the first repeat late in a batch and repeats after it keep only the last of each', () => {
    const operations: Operation[] = [
      ...Array.from({ length: 50 }, (_, index): Operation => ({ type: 'put', key: `k${index}`, value: index })),
      { type: 'del', key: 'k49' },
      { type: 'put', key: 'k0', value: 'zero' },
      { type: 'put', key: 'k49', value: 'back' },
      { type: 'del', key: 'k0' },
    ];
    const prepared = prepareBatch(operations, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
    const keys = prepared.indexOperations.map((operation) => operation.key);
    expect(keys).toEqual([...Array.from({ length: 48 }, (_, index) => `k${index + 1}`), 'k49', 'k0']);
    expect(prepared.indexOperations.at(-2)!.slot).toBe('back');
    expect(prepared.indexOperations.at(-1)!.slot).toBe(TOMBSTONE);
  });

  it("a put's WAL value is the encoding of what memory keeps; a delete writes none; the record round-trips", () => {
    const values: unknown[] = ['text', '', 'é\u{1F600}'.repeat(20), 'x'.repeat(300), 42, -0, 2.5, 10n ** 20n, null, true, { nested: [1, 'two'] }, Buffer.from([1, 2, 3]), new Uint8Array([4, 5])];
    const operations: Operation[] = values.map((value, index) => ({ type: 'put', key: `key-${index}`, value }));
    operations.push({ type: 'del', key: 'gone' });
    const prepared = prepareBatch(operations, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
    expect(prepared.walOperations).toHaveLength(operations.length);
    prepared.indexOperations.forEach((operation, index) => {
      const wal = prepared.walOperations[index]!;
      expect(wal.key).toBe(operation.key);
      if (operation.slot === TOMBSTONE) {
        expect(wal.type).toBe(OPERATION_DELETE);
        return;
      }
      expect(wal.type).toBe(OPERATION_PUT);
      if (wal.type === OPERATION_PUT && typeof wal.value === 'string') expect(wal.value).toBe(operation.slot);
    });
    const sizeBytes = COMMIT_HEADER_BYTES + prepared.operationsSizeBytes;
    const image = Buffer.alloc(RECORD_HEADER_BYTES + sizeBytes);
    const length = encodeRecord([{ version: 9, operations: prepared.walOperations, sizeBytes }], image, 0, hash);
    expect(length).toBe(image.length);
    const [commit] = decodeRecord(image, 0);
    expect(commit!.version).toBe(9);
    expect(commit!.operations.map((operation) => internalKeyFromBytes(operation.key))).toEqual(prepared.indexOperations.map((operation) => operation.key));
    // What the WAL holds for each put is the encoding of what memory keeps.
    commit!.operations.slice(0, -1).forEach((operation, index) => {
      const slot = prepared.indexOperations[index]!.slot as StoredValue;
      expect(operation.type === OPERATION_PUT && Buffer.from(operation.value).equals(Buffer.from(encodeStored(slot))), `value ${index}`).toBe(true);
    });
    const deleted = commit!.operations.at(-1)!;
    expect(deleted.type).toBe(OPERATION_DELETE);
    expect('value' in deleted).toBe(false);
  });

  it('the walOperations and indexOperations of a put are one object each, shared by both forms', () => {
    const prepared = preparePut('k', { a: 1 }, VALUE_BYTES_MAX);
    expect(prepared.walOperations[0]).toBe(prepared.indexOperations[0]);
    const deleted = prepareDelete('k');
    expect(deleted.walOperations[0]).toBe(deleted.indexOperations[0]);
    expect(deleted.operationsSizeBytes).toBe(1 + 2 + 1);
  });

  it("a binary key's internal string has one char per byte of the view, for every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, index) => index);
    const expected = Array.from(all, (byte) => String.fromCharCode(byte)).join('');
    expect(internalKey(all)).toBe(expected);
    expect(internalKey(Buffer.from(all))).toBe(expected);
    expect(internalKeyFromBytes(all)).toBe(expected);
    // A view with a byteOffset into a larger buffer: only its own bytes.
    const view = new Uint8Array(all.buffer, 100, 16);
    expect(internalKey(view)).toBe(expected.slice(100, 116));
    expect(internalKeyFromBytes(Buffer.from(all.buffer, 250, 6))).toBe(expected.slice(250));
    // Same internal key for the string and the bytes of an ASCII key.
    expect(internalKey(Buffer.from('plain-key'))).toBe(internalKey('plain-key'));
  });
});
