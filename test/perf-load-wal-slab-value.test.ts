/**
 * A byte value's WAL form is its EncodedValue (its range of a commit slab), not a view
 * made at prepare: the encoder makes the view as it copies (src/wal/wal-format.ts
 * EncodableValue; a view made at prepare lived as long as the commit and was promoted
 * by V8's scavenges, issue 7's bulk load). The record's bytes must be exactly those of
 * the same values given as plain bytes, for values at any offset of a shared slab.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { EncodedValue, ValueSlabs } from '../src/codec/value-slabs.js';
import { prepareBatch } from '../src/commit/prepare.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  encodeRecord,
  type Hash64,
  OPERATION_DELETE,
  OPERATION_PUT,
  operationsSizeBytes,
  RECORD_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { decodeRecord } from '../src/wal/wal-record-read.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function record(operations: EncodableOperation[]): Buffer {
  const sizeBytes = COMMIT_HEADER_BYTES + operationsSizeBytes(operations);
  const image = Buffer.alloc(RECORD_HEADER_BYTES + sizeBytes);
  const length = encodeRecord([{ version: 7, operations, sizeBytes }], image, 0, hash);
  expect(length).toBe(image.length);
  return image;
}

/** Seeded bytes (mulberry32), so every run encodes the same values. */
function seededBytes(seed: number, length: number): Uint8Array {
  let state = seed >>> 0;
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    bytes[index] = ((mixed ^ (mixed >>> 14)) >>> 0) & 0xff;
  }
  return bytes;
}

describe('WAL encoding of a slab-held byte value', () => {
  it('writes the same record as the plain bytes, for values at any offset of a slab', () => {
    const slabs = new ValueSlabs(4096, 512);
    const lengths = [1, 7, 100, 101, 512, 3, 600];
    const slabOperations: EncodableOperation[] = [];
    const plainOperations: EncodableOperation[] = [];
    lengths.forEach((length, index) => {
      const bytes = seededBytes(index + 1, length);
      // A copy into the slab: values after the first start past offset 0 of a shared array (600 B: an array of its own).
      const held = slabs.copyValue(bytes, 0, length);
      expect(held).toBeInstanceOf(EncodedValue);
      if (index > 0 && length <= 512) expect(held.start).toBeGreaterThan(0);
      const key = `key-${index}`;
      slabOperations.push({ type: OPERATION_PUT, key, value: held });
      plainOperations.push({ type: OPERATION_PUT, key, value: bytes });
    });
    slabOperations.push({ type: OPERATION_DELETE, key: 'gone' });
    plainOperations.push({ type: OPERATION_DELETE, key: 'gone' });
    const fromSlab = record(slabOperations);
    expect(fromSlab.equals(record(plainOperations))).toBe(true);
    const [commit] = decodeRecord(fromSlab, 0);
    expect(commit!.operations.map((operation) => (operation.type === OPERATION_PUT ? [...operation.value] : []))).toEqual(
      [...lengths.map((length, index) => [...seededBytes(index + 1, length)]), []],
    );
  });

  it('a batch of byte values encodes the bytes each put was given', () => {
    const values = Array.from({ length: 300 }, (_, index) => seededBytes(1000 + index, 20 + (index % 150)));
    const prepared = prepareBatch(values.map((value, index) => ({ type: 'put', key: `k${index}`, value })), 1 << 20, 1 << 26);
    const expected = prepared.walOperations.map((operation) => {
      const value = (operation as { value: EncodedValue }).value;
      expect(value).toBeInstanceOf(EncodedValue);
      return { ...operation, value: value.bytes.slice() } as EncodableOperation;
    });
    expect(record([...prepared.walOperations]).equals(record(expected))).toBe(true);
  });
});
