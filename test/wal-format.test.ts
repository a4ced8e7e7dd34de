/**
 * src/wal/wal-format.ts and src/wal/wal-record-read.ts: the WAL's bytes (docs/FORMAT.md).
 *
 * Round trips of segment headers and records; the checksum catches a single bit
 * flip anywhere in a header or a record (header fields, checksum, payload); an
 * all-zero record header is the end of a segment; truncated records are invalid;
 * a checksum-valid but malformed payload is refused by decodeRecord.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { EncodedValue } from '../src/codec/value-slabs.js';
import { AssertionFailedError } from '../src/errors.js';
import {
  COMMIT_HEADER_BYTES,
  decodeSegmentHeader,
  DELETE_OVERHEAD_BYTES,
  type EncodableOperation,
  encodeRecord,
  encodeSegmentHeader,
  FORMAT_VERSION,
  type FramedCommit,
  type Hash64,
  isZero,
  OPERATION_DELETE,
  OPERATION_PUT,
  operationsSizeBytes,
  PUT_OVERHEAD_BYTES,
  readUint64,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  type WalOperation,
  writeUint64,
} from '../src/wal/wal-format.js';
import { checkRecord, decodeRecord } from '../src/wal/wal-record-read.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function put(key: string, value: number[] | Uint8Array): WalOperation {
  return { type: OPERATION_PUT, key: Buffer.from(key, 'utf8'), value: Uint8Array.from(value) };
}

function del(key: string): WalOperation {
  return { type: OPERATION_DELETE, key: Buffer.from(key, 'utf8') };
}

function frame(version: number, operations: EncodableOperation[]): FramedCommit {
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** Encodes `commits` as one record at `offset` of a zeroed image with `slackBytes` after it. */
function recordImage(commits: FramedCommit[], offset = 0, slackBytes = 0): { image: Buffer; length: number } {
  const payload = commits.reduce((sum, commit) => sum + commit.sizeBytes, 0);
  const image = Buffer.alloc(offset + RECORD_HEADER_BYTES + payload + slackBytes);
  const length = encodeRecord(commits, image, offset, hash);
  return { image, length };
}

function plain(operations: EncodableOperation[]): unknown[] {
  const bytes = (key: Uint8Array | string): number[] => [...(typeof key === 'string' ? Buffer.from(key, 'latin1') : key)];
  return operations.map((operation) =>
    operation.type === OPERATION_PUT
      ? { type: 'put', key: bytes(operation.key), value: [...(operation.value instanceof EncodedValue ? operation.value.bytes : operation.value)] }
      : { type: 'del', key: bytes(operation.key) },
  );
}

const sampleCommits = (): FramedCommit[] => [
  frame(41, [put('alpha', [1, 2, 3]), del('beta')]),
  frame(42, [put('\u00e9t\u00e9', [])]),
  frame(45, [del('gamma'), put('k', new Uint8Array(300).fill(7))]),
];

describe('u64 fields', () => {
  it('round trip every safe integer through two u32 halves', () => {
    const buffer = Buffer.alloc(8);
    for (const value of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      writeUint64(buffer, value, 0);
      expect(readUint64(buffer, 0)).toBe(value);
      expect(buffer.readBigUInt64LE(0)).toBe(BigInt(value));
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (value) => {
        writeUint64(buffer, value, 0);
        expect(readUint64(buffer, 0)).toBe(value);
      }),
    );
  });

  it('refuses negative, fractional and unsafe integers', () => {
    const buffer = Buffer.alloc(8);
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity]) {
      expect(() => writeUint64(buffer, bad, 0)).toThrow(AssertionFailedError);
    }
  });
});

describe('segment header', () => {
  it('round trips and lays out magic, version and size as documented', () => {
    const header = encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber: 7, segmentSizeBytes: 2 ** 33 }, hash);
    expect(header.length).toBe(SEGMENT_HEADER_BYTES);
    expect(header.subarray(0, 8).equals(SEGMENT_MAGIC)).toBe(true);
    expect(header.readUInt32LE(8)).toBe(FORMAT_VERSION);
    expect(header.readUInt32LE(12)).toBe(SEGMENT_HEADER_BYTES);
    expect(isZero(header, 32, 56)).toBe(true);
    expect(header.readBigUInt64LE(56)).toBe(hash(header.subarray(0, 56)));
    expect(decodeSegmentHeader(header, hash)).toEqual({ formatVersion: FORMAT_VERSION, segmentNumber: 7, segmentSizeBytes: 2 ** 33 });
  });

  it('detects a single bit flip in any of its 512 bits', () => {
    const header = encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber: 3, segmentSizeBytes: 65536 }, hash);
    for (let byte = 0; byte < SEGMENT_HEADER_BYTES; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(header);
        damaged[byte]! ^= 1 << bit;
        expect(typeof decodeSegmentHeader(damaged, hash), `byte ${byte} bit ${bit}`).toBe('string');
      }
    }
  });

  it('names the problem: short file, bad magic, checksum, unsupported version', () => {
    const header = encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber: 1, segmentSizeBytes: 65536 }, hash);
    expect(decodeSegmentHeader(header.subarray(0, 63), hash)).toMatch(/shorter/);
    const badMagic = Buffer.from(header);
    badMagic[0] = 0;
    expect(decodeSegmentHeader(badMagic, hash)).toMatch(/magic/);
    const badSum = Buffer.from(header);
    badSum[20]! ^= 1;
    expect(decodeSegmentHeader(badSum, hash)).toMatch(/checksum/);
    const future = encodeSegmentHeader({ formatVersion: FORMAT_VERSION + 1, segmentNumber: 1, segmentSizeBytes: 65536 }, hash);
    expect(decodeSegmentHeader(future, hash)).toMatch(/unsupported format version/);
  });
});

describe('records', () => {
  it('round trip commits (puts, deletes, empty values, non-ASCII keys, version gaps)', () => {
    const commits = sampleCommits();
    const { image, length } = recordImage(commits, 64, 32);
    const check = checkRecord(image, 64, hash);
    expect(check).toEqual({ kind: 'valid', lengthBytes: length, firstVersion: 41, commitCount: 3 });
    const decoded = decodeRecord(image, 64);
    expect(decoded.map((commit) => commit.version)).toEqual([41, 42, 45]);
    expect(decoded.map((commit) => plain(commit.operations))).toEqual(commits.map((commit) => plain([...commit.operations])));
    // After the record: zeros, the end of the segment.
    expect(checkRecord(image, 64 + length, hash)).toEqual({ kind: 'end' });
  });

  it('lays out the header as documented and sizes every operation exactly', () => {
    const commits = [frame(2 ** 40, [put('ab', [9, 9]), del('xyz')])];
    const { image, length } = recordImage(commits);
    const expectedPayload = COMMIT_HEADER_BYTES + PUT_OVERHEAD_BYTES + 2 + 2 + DELETE_OVERHEAD_BYTES + 3;
    expect(length).toBe(RECORD_HEADER_BYTES + expectedPayload);
    expect(image.readUInt32LE(8)).toBe(RECORD_MAGIC);
    expect(image.readUInt32LE(12)).toBe(expectedPayload);
    expect(readUint64(image, 16)).toBe(2 ** 40);
    expect(image.readUInt32LE(24)).toBe(1);
    expect(image.readUInt32LE(28)).toBe(0);
    expect(image.readBigUInt64LE(0)).toBe(hash(image.subarray(8, length)));
  });

  it('encodes a key given as an internal key string to the same bytes as the key given as bytes', () => {
    // Internal keys hold one char per UTF-8 byte (src/codec/keys.ts): chars 128..255 included.
    const internal = internalKey('clé-\u{1F41E}-k');
    expect(internal.length).toBeGreaterThan('clé-x-k'.length);
    const asBytes = [frame(7, [
      { type: OPERATION_PUT, key: Buffer.from(internal, 'latin1'), value: Uint8Array.from([1, 2]) },
      { type: OPERATION_DELETE, key: Buffer.from('gone', 'latin1') },
    ])];
    const asStrings = [frame(7, [
      { type: OPERATION_PUT, key: internal, value: Uint8Array.from([1, 2]) },
      { type: OPERATION_DELETE, key: 'gone' },
    ])];
    expect(asStrings[0]!.sizeBytes).toBe(asBytes[0]!.sizeBytes);
    const fromBytes = recordImage(asBytes, 0, 8);
    const fromStrings = recordImage(asStrings, 0, 8);
    expect(fromStrings.length).toBe(fromBytes.length);
    expect(fromStrings.image.equals(fromBytes.image)).toBe(true);
    const decoded = decodeRecord(fromStrings.image, 0);
    expect(Buffer.from(decoded[0]!.operations[0]!.key).toString('utf8')).toBe('clé-\u{1F41E}-k');
  });

  it('an internal key string gives the bytes of its Buffer at every length around the char-by-char copy bound, and a char above 255 is refused', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 8 }), (keyBytes, value) => {
      const key = Buffer.from(keyBytes).toString('latin1');
      const fromBytes = recordImage([frame(3, [{ type: OPERATION_PUT, key: Buffer.from(keyBytes), value }])]);
      const fromString = recordImage([frame(3, [{ type: OPERATION_PUT, key, value }])]);
      expect(fromString.image.equals(fromBytes.image)).toBe(true);
      const deleted = recordImage([frame(3, [{ type: OPERATION_DELETE, key }])]);
      expect(deleted.image.equals(recordImage([frame(3, [{ type: OPERATION_DELETE, key: Buffer.from(keyBytes) }])]).image)).toBe(true);
    }), { numRuns: 300 });
    // Buffer#write(latin1) kept the low byte of such a char: the record named another key.
    expect(() => recordImage([frame(3, [{ type: OPERATION_DELETE, key: 'ab\u0161' }])])).toThrow(AssertionFailedError);
  });

  it('round trip random commits', () => {
    const operation = fc.oneof(
      fc.record({ type: fc.constant(OPERATION_PUT), key: fc.uint8Array({ minLength: 1, maxLength: 20 }), value: fc.uint8Array({ maxLength: 50 }) }),
      fc.record({ type: fc.constant(OPERATION_DELETE), key: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
    ) as fc.Arbitrary<WalOperation>;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 50 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.array(operation, { maxLength: 5 })), { minLength: 1, maxLength: 6 }),
        (firstVersion, raw) => {
          let version = firstVersion - 1;
          const commits = raw.map(([gap, operations]) => frame((version += gap), operations));
          const { image, length } = recordImage(commits, 0, 8);
          expect(checkRecord(image, 0, hash)).toMatchObject({ kind: 'valid', lengthBytes: length, commitCount: commits.length });
          const decoded = decodeRecord(image, 0);
          expect(decoded.map((commit) => commit.version)).toEqual(commits.map((commit) => commit.version));
          expect(decoded.map((commit) => plain(commit.operations))).toEqual(commits.map((commit) => plain([...commit.operations])));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('detects a single bit flip anywhere in the header or payload', () => {
    const { image, length } = recordImage(sampleCommits(), 0, 64);
    let flips = 0;
    for (let byte = 0; byte < length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(image);
        damaged[byte]! ^= 1 << bit;
        const check = checkRecord(damaged, 0, hash);
        expect(check.kind, `byte ${byte} bit ${bit}`).toBe('invalid');
        flips++;
      }
    }
    expect(flips).toBe(length * 8);
  });

  it('reports which check failed: magic, length past the end, checksum', () => {
    const { image } = recordImage(sampleCommits(), 0, 0);
    const badMagic = Buffer.from(image);
    badMagic[9]! ^= 0x10;
    expect(checkRecord(badMagic, 0, hash)).toEqual({ kind: 'invalid', reason: 'bad record magic' });
    const longer = Buffer.from(image);
    longer.writeUInt32LE(longer.readUInt32LE(12) + 1, 12);
    expect(checkRecord(longer, 0, hash)).toEqual({ kind: 'invalid', reason: 'record extends past the end of the segment' });
    const payloadFlip = Buffer.from(image);
    payloadFlip[RECORD_HEADER_BYTES + 10]! ^= 1;
    expect(checkRecord(payloadFlip, 0, hash)).toEqual({ kind: 'invalid', reason: 'record checksum mismatch' });
  });

  it('treats an all-zero header as the end, even with non-zero bytes after it', () => {
    const image = Buffer.alloc(200);
    expect(checkRecord(image, 0, hash)).toEqual({ kind: 'end' });
    image[RECORD_HEADER_BYTES + 5] = 1;
    expect(checkRecord(image, 0, hash)).toEqual({ kind: 'end' });
    // At the very end of the image, and in a zero tail shorter than a header.
    expect(checkRecord(image, 200, hash)).toEqual({ kind: 'end' });
    expect(checkRecord(Buffer.alloc(10), 0, hash)).toEqual({ kind: 'end' });
  });

  it('finds a truncated record invalid at every cut point', () => {
    const { image, length } = recordImage(sampleCommits());
    for (let cut = 1; cut < length; cut++) {
      const check = checkRecord(image.subarray(0, cut), 0, hash);
      expect(check.kind, `cut at ${cut}`).toBe('invalid');
    }
    expect(checkRecord(image.subarray(0, 5), 0, hash)).toEqual({ kind: 'invalid', reason: 'truncated record header' });
  });

  it('a torn write (a prefix of the record, zeros after) is invalid, never a shorter valid record', () => {
    const { image, length } = recordImage(sampleCommits(), 0, 0);
    for (let kept = 1; kept < length; kept++) {
      const torn = Buffer.alloc(length);
      image.copy(torn, 0, 0, kept);
      const check = checkRecord(torn, 0, hash);
      expect(check.kind === 'valid', `kept ${kept}`).toBe(false);
    }
  });

  it('decodeRecord refuses a checksum-valid record whose payload is malformed', () => {
    /** Rewrites the checksum so only decodeRecord can notice the damage. */
    const reseal = (image: Buffer): Buffer => {
      const end = RECORD_HEADER_BYTES + image.readUInt32LE(12);
      image.writeBigUInt64LE(hash(image.subarray(8, end)), 0);
      expect(checkRecord(image, 0, hash).kind).toBe('valid');
      return image;
    };
    const base = recordImage([frame(5, [put('a', [1]), del('b')])]).image;

    const moreCommits = Buffer.from(base);
    moreCommits.writeUInt32LE(2, 24);
    expect(() => decodeRecord(reseal(moreCommits), 0)).toThrow(/commit header past the payload/);

    const moreOperations = Buffer.from(base);
    moreOperations.writeUInt32LE(3, RECORD_HEADER_BYTES + 4);
    expect(() => decodeRecord(reseal(moreOperations), 0)).toThrow(/operation header past the payload/);

    const fewerOperations = Buffer.from(base);
    fewerOperations.writeUInt32LE(1, RECORD_HEADER_BYTES + 4);
    expect(() => decodeRecord(reseal(fewerOperations), 0)).toThrow(/trailing bytes/);

    const badType = Buffer.from(base);
    badType[RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES] = 9;
    expect(() => decodeRecord(reseal(badType), 0)).toThrow(/bad operation type 9/);

    const longKey = Buffer.from(base);
    longKey.writeUInt16LE(500, RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES + 1);
    expect(() => decodeRecord(reseal(longKey), 0)).toThrow(/key past the payload/);

    const longValue = Buffer.from(base);
    longValue.writeUInt32LE(500, RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES + 3 + 1);
    expect(() => decodeRecord(reseal(longValue), 0)).toThrow(/value past the payload/);
  });

  it('refuses to frame an empty group or commits with descending versions', () => {
    const target = Buffer.alloc(1024);
    expect(() => encodeRecord([], target, 0, hash)).toThrow(AssertionFailedError);
    expect(() => encodeRecord([frame(5, [del('a')]), frame(4, [del('b')])], target, 0, hash)).toThrow(AssertionFailedError);
    expect(() => encodeRecord([{ version: 1, operations: [del('a')], sizeBytes: 99 }], target, 0, hash)).toThrow(AssertionFailedError);
  });
});

describe('isZero', () => {
  it('checks exactly the half-open range', () => {
    const bytes = Uint8Array.from([0, 0, 1, 0]);
    expect(isZero(bytes, 0, 2)).toBe(true);
    expect(isZero(bytes, 0, 3)).toBe(false);
    expect(isZero(bytes, 3, 4)).toBe(true);
    expect(isZero(bytes, 2, 2)).toBe(true);
  });
});
