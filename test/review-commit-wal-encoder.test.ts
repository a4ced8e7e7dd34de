/**
 * Review of 6c268ac (the WAL encoder copies internal key strings of up to 64 chars
 * char by char): a record of several commits and operations with string keys gives the
 * bytes of the same record with the keys' Buffers, for every key length 1-130 (both
 * sides of the 64-char bound), keys of chars 128-255 and 0, at odd offsets in a dirty
 * (non-zero) buffer; the record decodes to the keys' bytes. A char above 255 is
 * refused at every length up to the bound.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { AssertionFailedError } from '../src/errors.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  encodeRecord,
  type FramedCommit,
  OPERATION_DELETE,
  OPERATION_PUT,
  operationsSizeBytes,
  RECORD_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { decodeRecord } from '../src/wal/wal-record-read.js';

function frame(version: number, operations: EncodableOperation[]): FramedCommit {
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** Key bytes of `length` drawn from chars 0, 127-255 and ASCII, deterministic per (length, salt). */
function keyBytes(length: number, salt: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index++) {
    const pick = (index * 131 + length * 17 + salt * 7) % 5;
    bytes[index] = pick === 0 ? 0 : pick === 1 ? 255 : pick === 2 ? 128 + ((index + salt) % 128) : pick === 3 ? 127 : 97 + (index % 26);
  }
  return bytes;
}

describe('review of 6c268ac: the WAL encoder string keys against their Buffers', () => {
  it('multi-commit, multi-operation records at every key length 1-130 give the Buffer path bytes, in a dirty buffer at an odd offset', async () => {
    const hash = await loadHash64();
    for (let length = 1; length <= 130; length++) {
      const commitsOf = (asString: boolean): FramedCommit[] => [0, 1, 2].map((commitIndex) => {
        const operations: EncodableOperation[] = [];
        for (let operationIndex = 0; operationIndex < 3; operationIndex++) {
          const bytes = keyBytes(length + operationIndex, commitIndex * 3 + operationIndex);
          const key = asString ? bytes.toString('latin1') : bytes;
          operations.push(operationIndex === 1 ? { type: OPERATION_DELETE, key } : { type: OPERATION_PUT, key, value: new Uint8Array([commitIndex, operationIndex, 0xff]) });
        }
        return frame(10 + commitIndex, operations);
      });
      const fromStrings = commitsOf(true);
      const fromBuffers = commitsOf(false);
      const size = RECORD_HEADER_BYTES + fromStrings.reduce((sum, commit) => sum + commit.sizeBytes, 0);
      const imageOf = (commits: FramedCommit[]): Buffer => {
        const image = Buffer.alloc(size + 10, 0xa5);
        expect(encodeRecord(commits, image, 3, hash)).toBe(size);
        return image;
      };
      const stringImage = imageOf(fromStrings);
      expect(stringImage.equals(imageOf(fromBuffers)), `key length ${length}`).toBe(true);
      const decoded = decodeRecord(stringImage, 3);
      expect(decoded.map((commit) => commit.operations.map((operation) => Buffer.from(operation.key).toString('latin1'))))
        .toEqual(fromStrings.map((commit) => commit.operations.map((operation) => operation.key)));
    }
  });

  it('a char above 255 anywhere in a key of up to 64 chars is refused', async () => {
    const hash = await loadHash64();
    for (let length = 1; length <= 64; length++) {
      for (const at of new Set([0, length >> 1, length - 1])) {
        const chars = keyBytes(length, at).toString('latin1').split('');
        chars[at] = String.fromCharCode(0x100 + at);
        const commit = frame(1, [{ type: OPERATION_DELETE, key: chars.join('') }]);
        expect(() => encodeRecord([commit], Buffer.alloc(RECORD_HEADER_BYTES + commit.sizeBytes), 0, hash), `length ${length} at ${at}`).toThrow(AssertionFailedError);
      }
    }
  });
});
