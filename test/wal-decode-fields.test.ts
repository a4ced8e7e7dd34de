/**
 * The record checker and decoder read every field with byte arithmetic (cold code at
 * open, issue 7), not Buffer#readUInt32LE: each u32 field must still read unsigned
 * (its high bit set), a u64 version across 2^32 whole, and each check give the same
 * verdict and reason, in the same order (zeros before magic). readSegment hands the
 * file system's own array to replay instead of copying it.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  encodeRecord,
  type FramedCommit,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
} from '../src/wal/wal-format.js';
import { checkRecord, decodeRecord, plausibleRecordEnd } from '../src/wal/wal-record-read.js';
import { findValidRecordFrom, readSegment } from '../src/wal/wal-scan.js';
import { segmentFileName } from '../src/wal/segment-files.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function frame(version: number, operations: EncodableOperation[]): FramedCommit {
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

function recordAt(commits: FramedCommit[], offset: number): Buffer {
  const payload = commits.reduce((sum, commit) => sum + commit.sizeBytes, 0);
  const image = Buffer.alloc(offset + RECORD_HEADER_BYTES + payload);
  encodeRecord(commits, image, offset, hash);
  return image;
}

/** Rewrites the checksum of the record at `offset`, so only the decoder sees a change. */
function reseal(image: Buffer, offset: number): Buffer {
  const end = offset + RECORD_HEADER_BYTES + image.readUInt32LE(offset + 12);
  image.writeBigUInt64LE(hash(image.subarray(offset + 8, end)), offset);
  return image;
}

const put = (key: string, value: number[]): EncodableOperation => ({ type: OPERATION_PUT, key: Buffer.from(key), value: Uint8Array.from(value) });

describe('record fields read unsigned and whole', () => {
  it('versions across 2^32 and 2^52 decode whole, from checkRecord and decodeRecord, at an unaligned offset', () => {
    for (const first of [2 ** 32 - 1, 2 ** 32 + 5, 2 ** 40 + 0x8000_0000, 2 ** 52 + 3]) {
      const image = recordAt([frame(first, [put('a', [1])]), frame(first + 0xffff_fff0, [put('b', [0xff, 0x80])])], 13);
      const check = checkRecord(image, 13, hash);
      expect(check).toMatchObject({ kind: 'valid', firstVersion: first, commitCount: 2 });
      const commits = decodeRecord(image, 13);
      expect(commits.map((commit) => commit.version)).toEqual([first, first + 0xffff_fff0]);
      expect([...(commits[1]!.operations[0] as { value: Uint8Array }).value]).toEqual([0xff, 0x80]);
    }
  });

  it('a payload length, commit count or use tag with its high bit set is refused, never read negative', () => {
    const base = recordAt([frame(7, [put('k', [1, 2, 3])])], 0);
    const longPayload = Buffer.from(base);
    longPayload.writeUInt32LE(0x8000_0010, 12);
    expect(checkRecord(longPayload, 0, hash)).toEqual({ kind: 'invalid', reason: 'record extends past the end of the segment' });
    expect(plausibleRecordEnd(longPayload, 0)).toBeUndefined();

    const manyCommits = Buffer.from(base);
    manyCommits.writeUInt32LE(0x8000_0001, 24);
    expect(checkRecord(manyCommits, 0, hash)).toEqual({ kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' });

    const highTag = Buffer.from(base);
    highTag.writeUInt32LE(0x8000_0001, 28);
    expect(plausibleRecordEnd(highTag, 0, 0x8000_0001)).toBe(base.length);
    expect(checkRecord(highTag, 0, hash, 0)).toEqual({ kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' });
  });

  it('an operation count or value length with its high bit set in a checksum-valid record is a malformed payload', () => {
    const base = recordAt([frame(7, [put('k', [1, 2, 3])])], 0);
    const manyOperations = Buffer.from(base);
    manyOperations.writeUInt32LE(0x8000_0001, RECORD_HEADER_BYTES + 4);
    expect(checkRecord(reseal(manyOperations, 0), 0, hash).kind).toBe('valid');
    expect(() => decodeRecord(manyOperations, 0)).toThrow(/operation header past the payload/);

    const longValue = Buffer.from(base);
    longValue.writeUInt32LE(0xffff_fffc, RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES + 3 + 1);
    expect(checkRecord(reseal(longValue, 0), 0, hash).kind).toBe('valid');
    expect(() => decodeRecord(longValue, 0)).toThrow(/value past the payload/);
  });
});

describe('checkRecord verdicts on a header without the magic', () => {
  it('all zeros end the records; one non-zero byte anywhere else in the header is a bad magic', () => {
    const image = Buffer.alloc(RECORD_HEADER_BYTES * 2);
    expect(checkRecord(image, 0, hash)).toEqual({ kind: 'end' });
    for (let index = 0; index < RECORD_HEADER_BYTES; index++) {
      if (index >= 8 && index < 12) continue;
      const damaged = Buffer.alloc(RECORD_HEADER_BYTES * 2);
      damaged[index] = 0x40;
      expect(checkRecord(damaged, 0, hash)).toEqual({ kind: 'invalid', reason: 'bad record magic' });
    }
  });

  it('the magic with every other header byte zero is not an end: an implausible header', () => {
    const image = Buffer.alloc(RECORD_HEADER_BYTES * 2);
    image.writeUInt32LE(RECORD_MAGIC, 8);
    expect(checkRecord(image, 0, hash)).toEqual({ kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' });
  });

  it('a wrong magic that differs from it in one byte is still a bad magic', () => {
    const image = recordAt([frame(1, [put('a', [1])])], 0);
    for (let byte = 8; byte < 12; byte++) {
      const damaged = Buffer.from(image);
      damaged[byte]! ^= 0x01;
      expect(checkRecord(damaged, 0, hash)).toEqual({ kind: 'invalid', reason: 'bad record magic' });
    }
  });
});

describe('findValidRecordFrom', () => {
  it('skips records of another use tag (high bit set or not) and finds the first of its own, whose tag has the high bit set', () => {
    const ownTag = 0x8000_0005;
    const records: Buffer[] = [];
    for (const tag of [0x8000_0004, 4, 0x8000_0105, ownTag, 0x8000_0004]) {
      const record = Buffer.alloc(RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES + 3 + 1 + 4 + 2);
      encodeRecord([frame(9, [put('k', [tag & 0xff, 1])])], record, 0, hash, tag);
      records.push(record);
    }
    const image = Buffer.concat([Buffer.alloc(64), ...records, Buffer.alloc(40)]);
    const ownOffset = 64 + records[0]!.length * 3;
    expect(findValidRecordFrom(image, 0, hash, ownTag)).toBe(ownOffset);
    expect(findValidRecordFrom(image, ownOffset + 1, hash, ownTag)).toBeUndefined();
    expect(findValidRecordFrom(image, 0, hash, 4)).toBe(64 + records[0]!.length);
    expect(findValidRecordFrom(image, 0, hash, 0x8000_0004)).toBe(64);
    expect(findValidRecordFrom(image, 65, hash, 0x8000_0004)).toBe(64 + records[0]!.length * 4);
  });
});

describe('readSegment', () => {
  it("replays the file system's own array (no copy): a Buffer as is, a plain Uint8Array through a Buffer over its memory", async () => {
    const directory = await mkdtemp(join(tmpdir(), 'ladybug-read-segment-'));
    try {
      const bytes = Buffer.alloc(256, 0x5a);
      await writeFile(join(directory, segmentFileName(3)), bytes);
      const handed: Uint8Array[] = [];
      const watching = (inner: FileSystem): FileSystem => new Proxy(inner, {
        get(target, property, receiver) {
          if (property !== 'readFile') return Reflect.get(target, property, receiver) as unknown;
          return async (path: string) => {
            const content = await target.readFile(path);
            handed.push(content);
            return content;
          };
        },
      });

      const fromNode = await readSegment(watching(new NodeFileSystem()), directory, 3);
      expect(Buffer.isBuffer(handed[0])).toBe(true);
      expect(fromNode.image).toBe(handed[0]);
      expect(fromNode.image.equals(bytes)).toBe(true);

      const fault = new FaultFileSystem();
      await fault.mkdir(directory);
      const handle = await fault.open(join(directory, segmentFileName(3)), 'createExclusive');
      await handle.write(bytes, 0);
      await handle.close();
      const fromFault = await readSegment(watching(fault), directory, 3);
      const plain = handed[1]!;
      expect(Buffer.isBuffer(plain)).toBe(false);
      expect(Buffer.isBuffer(fromFault.image)).toBe(true);
      expect(fromFault.image.buffer).toBe(plain.buffer);
      expect(fromFault.image.byteOffset).toBe(plain.byteOffset);
      expect(fromFault.image.equals(bytes)).toBe(true);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
