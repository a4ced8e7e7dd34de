/**
 * Review of WAL replay written for cold code (e380df2: no copy of a segment; b8ce846:
 * checkRecord, plausibleRecordEnd and decodeRecordWith read fields with byte
 * arithmetic; 0b7cf2a: findValidRecordFrom reads the use tag so). Every image below is
 * checked two ways: by recovery over the fault-injecting file system (what a crash
 * leaves: records kept, a torn tail zeroed, or CorruptionError when acknowledged
 * records follow the damage), and against the record checker and end search as they
 * were before the rewrite (Buffer#readUInt32LE; written out below as the reference),
 * which must give the same verdict and reason at every offset.
 *
 * Images: a 16 KiB format-2 segment whose last record ends 0, 1, 31, 32 or 33 bytes
 * before the segment's end, torn (zeros, junk, or an earlier use's bytes) at every
 * byte from the last record's start to the segment's end; every bit of every header
 * field of its first, a middle and its last record flipped; length fields pointing
 * past the segment; and the previous releases' segments (test/fixtures).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import {
  COMMIT_HEADER_BYTES,
  decodeSegmentHeader,
  encodeRecord,
  encodeSegmentHeader,
  FORMAT_VERSION,
  type FramedCommit,
  type Hash64,
  isZero,
  OPERATION_PUT,
  operationsSizeBytes,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  recordTagOf,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { checkRecord, plausibleRecordEnd, type RecordCheck } from '../src/wal/wal-record-read.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { findValidRecordFrom } from '../src/wal/wal-scan.js';
import { segmentFileName } from '../src/wal/segment-files.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const SEGMENT_BYTES = 16 * 1024;
const SEGMENT_NUMBER = 1;
const TAG = recordTagOf(FORMAT_VERSION, SEGMENT_NUMBER);
const WAL = '/wal';
const PATH = `${WAL}/${segmentFileName(SEGMENT_NUMBER)}`;

// ---- The record checker and end search as they were before b8ce846 and 0b7cf2a (Buffer methods). ----

function referencePlausibleEnd(image: Buffer, offset: number, tag = 0): number | undefined {
  if (offset < 0 || offset + RECORD_HEADER_BYTES > image.length) return undefined;
  if (image.readUInt32LE(offset + 8) !== RECORD_MAGIC) return undefined;
  const payloadLength = image.readUInt32LE(offset + 12);
  const commitCount = image.readUInt32LE(offset + 24);
  if (commitCount < 1 || payloadLength < commitCount * COMMIT_HEADER_BYTES) return undefined;
  if (image.readUInt32LE(offset + 28) !== tag) return undefined;
  const end = offset + RECORD_HEADER_BYTES + payloadLength;
  return end <= image.length ? end : undefined;
}

function referenceCheck(image: Buffer, offset: number, tag = 0): RecordCheck {
  if (offset + RECORD_HEADER_BYTES > image.length) {
    return isZero(image, offset, image.length) ? { kind: 'end' } : { kind: 'invalid', reason: 'truncated record header' };
  }
  if (isZero(image, offset, offset + RECORD_HEADER_BYTES)) return { kind: 'end' };
  if (image.readUInt32LE(offset + 8) !== RECORD_MAGIC) return { kind: 'invalid', reason: 'bad record magic' };
  const end = offset + RECORD_HEADER_BYTES + image.readUInt32LE(offset + 12);
  if (end > image.length) return { kind: 'invalid', reason: 'record extends past the end of the segment' };
  const recordTag = image.readUInt32LE(offset + 28);
  if (referencePlausibleEnd(image, offset, recordTag) !== end) return { kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' };
  if (recordTag !== tag && tag === 0) return { kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' };
  if (image.readBigUInt64LE(offset) !== hash(image.subarray(offset + 8, end))) return { kind: 'invalid', reason: 'record checksum mismatch' };
  if (recordTag !== tag) return { kind: 'end' };
  return {
    kind: 'valid',
    lengthBytes: end - offset,
    firstVersion: image.readUInt32LE(offset + 16) + image.readUInt32LE(offset + 20) * 2 ** 32,
    commitCount: image.readUInt32LE(offset + 24),
  };
}

const MAGIC = Buffer.alloc(4);
MAGIC.writeUInt32LE(RECORD_MAGIC, 0);

function referenceFind(image: Buffer, start: number, tag: number): number | undefined {
  let search = start;
  for (;;) {
    const found = image.indexOf(MAGIC, search + 8);
    if (found < 0) return undefined;
    const candidate = found - 8;
    if (found + 24 <= image.length && image.readUInt32LE(found + 20) === tag && referenceCheck(image, candidate, tag).kind === 'valid') return candidate;
    search = candidate + 1;
  }
}

/** The rewritten checker, plausibility test and end search agree with the reference at `offsets` of `image`. */
function expectSameVerdicts(image: Buffer, offsets: Iterable<number>, tag: number): void {
  for (const offset of offsets) {
    const verdict = checkRecord(image, offset, hash, tag);
    const reference = referenceCheck(image, offset, tag);
    if (JSON.stringify(verdict) !== JSON.stringify(reference)) {
      expect({ offset, verdict }).toEqual({ offset, verdict: reference });
    }
    for (const plausibleTag of [0, tag, image.length >= offset + 32 ? image.readUInt32LE(offset + 28) : 0]) {
      if (plausibleRecordEnd(image, offset, plausibleTag) !== referencePlausibleEnd(image, offset, plausibleTag)) {
        expect({ offset, plausibleTag, end: plausibleRecordEnd(image, offset, plausibleTag) }).toEqual({ offset, plausibleTag, end: referencePlausibleEnd(image, offset, plausibleTag) });
      }
    }
    const found = findValidRecordFrom(image, offset, hash, tag);
    const referenceFound = referenceFind(image, offset, tag);
    if (found !== referenceFound) expect({ offset, found }).toEqual({ offset, found: referenceFound });
  }
}

// ---- Segment images ----

interface Layout {
  image: Buffer;
  /** Record start offsets, and where the last one ends. */
  starts: number[];
  lastEnd: number;
  /** The commit versions of each record. */
  versions: number[][];
}

function putCommit(version: number, key: string, valueBytes: number, fill: number): FramedCommit {
  const operations = [{ type: OPERATION_PUT, key: Buffer.from(key), value: Buffer.alloc(valueBytes, fill) }] as const;
  return { version, operations: [...operations], sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes([...operations]) };
}

/**
 * A segment of four records (one of two commits) whose last record ends `gap` bytes
 * before the segment's end; `tag` is the records' use tag (another tag makes an
 * earlier use's records).
 */
function segmentImage(gap: number, tag = TAG, firstVersion = 1): Layout {
  const image = Buffer.alloc(SEGMENT_BYTES);
  encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber: SEGMENT_NUMBER, segmentSizeBytes: SEGMENT_BYTES }, hash).copy(image, 0);
  const starts: number[] = [];
  const versions: number[][] = [];
  let offset = SEGMENT_HEADER_BYTES;
  let version = firstVersion;
  const records: FramedCommit[][] = [
    [putCommit(version++, 'alpha', 3000, 0x11)],
    [putCommit(version++, 'bravo', 5000, 0x22), putCommit(version++, 'charlie', 17, 0x33)],
    [putCommit(version++, 'delta', 4000, 0x44)],
  ];
  for (const commits of records) {
    starts.push(offset);
    versions.push(commits.map((commit) => commit.version));
    offset += encodeRecord(commits, image, offset, hash, tag);
  }
  // The last record: a value sized so that it ends `gap` bytes before the segment's end.
  const fixed = RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES + 7 + 'echo'.length;
  const valueBytes = SEGMENT_BYTES - gap - offset - fixed;
  expect(valueBytes).toBeGreaterThan(200);
  starts.push(offset);
  versions.push([version]);
  offset += encodeRecord([putCommit(version, 'echo', valueBytes, 0x55)], image, offset, hash, tag);
  expect(offset).toBe(SEGMENT_BYTES - gap);
  return { image, starts, lastEnd: offset, versions };
}

async function fileSystemWith(image: Uint8Array): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(1);
  await fileSystem.mkdir(WAL);
  await fileSystem.syncDirectory('/');
  const handle = await fileSystem.open(PATH, 'createExclusive');
  await handle.write(image, 0);
  await handle.sync();
  await handle.close();
  await fileSystem.syncDirectory(WAL);
  return fileSystem;
}

type Recovered = { versions: number[]; values: string[]; torn: boolean; fileSystem: FaultFileSystem } | { error: unknown };

/** Recovery of `image` as the log's only segment (no repair): the versions and values applied, or the error. */
async function recover(image: Uint8Array): Promise<Recovered> {
  const fileSystem = await fileSystemWith(image);
  const versions: number[] = [];
  const values: string[] = [];
  try {
    const result = await recoverWal(fileSystem, WAL, hash, false, (commits) => {
      for (const commit of commits) {
        versions.push(commit.version);
        for (const operation of commit.operations) {
          if (operation.type === OPERATION_PUT) values.push(`${Buffer.from(operation.key).toString('latin1')}:${operation.value.length}:${operation.value[0]}:${operation.value[operation.value.length - 1]}`);
        }
      }
    });
    await result.resume?.handle.close();
    return { versions, values, torn: result.tornTail !== undefined, fileSystem };
  } catch (error) {
    return { error };
  }
}

function versionsOf(layout: Layout, records: number): number[] {
  return layout.versions.slice(0, records).flat();
}

/** After a torn tail: the file reads as the kept records then zeros to its end. */
async function expectZeroFrom(fileSystem: FaultFileSystem, offset: number): Promise<void> {
  const bytes = Buffer.from(await fileSystem.readFile(PATH));
  expect(bytes.length).toBe(SEGMENT_BYTES);
  expect(isZero(bytes, offset, bytes.length)).toBe(true);
}

describe('a torn last record at every byte around the segment end', () => {
  for (const gap of [0, 1, 31, 32, 33]) {
    it(`last record ending ${gap} bytes before the end: zeros, junk or an earlier use's bytes from every cut keep the records before it, exact`, async () => {
      const layout = segmentImage(gap);
      const lastStart = layout.starts.at(-1)!;
      const earlier = segmentImage(gap, TAG + 7, 1000).image; // an earlier use's records at the same places
      const complete = await recover(layout.image);
      expect(complete).toMatchObject({ versions: versionsOf(layout, 4), torn: false });
      const allValues = (complete as { values: string[] }).values;
      for (let cut = lastStart; cut <= SEGMENT_BYTES; cut++) {
        for (const torn of ['zeros', 'junk', 'earlier use'] as const) {
          const image = Buffer.from(layout.image);
          if (torn === 'zeros') image.fill(0, cut);
          else if (torn === 'junk') image.fill(0xa5, cut, Math.max(cut, layout.lastEnd));
          else earlier.copy(image, cut, cut);
          expectSameVerdicts(image, [lastStart, cut, cut - 1, cut - 8, layout.lastEnd], TAG);
          const whole = image.subarray(lastStart, layout.lastEnd).equals(layout.image.subarray(lastStart, layout.lastEnd));
          const outcome = await recover(image);
          if ('error' in outcome) throw new Error(`gap ${gap}, cut ${cut} (${torn}): ${String(outcome.error)}`);
          if (whole) {
            expect(outcome.versions, `gap ${gap}, cut ${cut} (${torn})`).toEqual(versionsOf(layout, 4));
            expect(outcome.values).toEqual(allValues);
          } else {
            expect(outcome.versions, `gap ${gap}, cut ${cut} (${torn})`).toEqual(versionsOf(layout, 3));
            expect(outcome.values).toEqual(allValues.slice(0, 4));
            // An earlier use's whole record where the last one was reads as the log's end, not as a torn tail.
            const tornTail = referenceCheck(image, lastStart, TAG).kind !== 'end';
            expect(outcome.torn).toBe(tornTail);
            if (tornTail) await expectZeroFrom(outcome.fileSystem, lastStart);
          }
        }
      }
    });
  }
});

describe('every bit of every record header field flipped', () => {
  it('the first, a middle and the last record: never a record applied from a damaged header; damage before acknowledged records is CorruptionError at its offset, a damaged last record a torn tail', async () => {
    const layout = segmentImage(5);
    for (const record of [0, 2, 3]) {
      const start = layout.starts[record]!;
      for (let byte = 0; byte < RECORD_HEADER_BYTES; byte++) {
        for (let bit = 0; bit < 8; bit++) {
          const image = Buffer.from(layout.image);
          image[start + byte]! ^= 1 << bit;
          expectSameVerdicts(image, [start, start + 1, ...layout.starts], TAG);
          expect(checkRecord(image, start, hash, TAG).kind).toBe('invalid');
          const outcome = await recover(image);
          const where = `record ${record}, header byte ${byte}, bit ${bit}`;
          if (record === 3) {
            if ('error' in outcome) throw new Error(`${where}: ${String(outcome.error)}`);
            expect(outcome.versions, where).toEqual(versionsOf(layout, 3));
            expect(outcome.torn, where).toBe(true);
          } else {
            expect('error' in outcome, where).toBe(true);
            const error = (outcome as { error: unknown }).error;
            expect(error, where).toBeInstanceOf(CorruptionError);
            expect((error as CorruptionError).file, where).toBe(PATH);
            expect((error as CorruptionError).offset, where).toBe(start);
          }
        }
      }
    }
  });
});

describe('a length field pointing past the segment', () => {
  it('in the last record a torn tail, in an earlier record CorruptionError: the records after it are never dropped', async () => {
    const layout = segmentImage(40);
    for (const record of [1, 3]) {
      const start = layout.starts[record]!;
      const toEnd = SEGMENT_BYTES - start - RECORD_HEADER_BYTES;
      for (const length of [toEnd + 1, toEnd + 8, toEnd + 4096, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xffff_fff0, 0xffff_ffff]) {
        const image = Buffer.from(layout.image);
        image.writeUInt32LE(length, start + 12);
        expectSameVerdicts(image, [start, ...layout.starts], TAG);
        expect(checkRecord(image, start, hash, TAG)).toEqual({ kind: 'invalid', reason: 'record extends past the end of the segment' });
        expect(plausibleRecordEnd(image, start, TAG)).toBeUndefined();
        const outcome = await recover(image);
        if (record === 3) {
          if ('error' in outcome) throw new Error(`length ${length}: ${String(outcome.error)}`);
          expect(outcome.versions).toEqual(versionsOf(layout, 3));
        } else {
          expect((outcome as { error: unknown }).error).toBeInstanceOf(CorruptionError);
        }
      }
    }
  });

  it('a length field ending exactly at the segment end with a valid checksum replays; one byte less or more does not', async () => {
    const layout = segmentImage(0);
    const start = layout.starts[3]!;
    expect(checkRecord(layout.image, start, hash, TAG)).toMatchObject({ kind: 'valid', lengthBytes: SEGMENT_BYTES - start });
    for (const delta of [-1, 1]) {
      const image = Buffer.from(layout.image);
      image.writeUInt32LE(image.readUInt32LE(start + 12) + delta, start + 12);
      expectSameVerdicts(image, [start], TAG);
      expect(checkRecord(image, start, hash, TAG).kind).toBe('invalid');
    }
  });
});

describe('segments written by previous releases (test/fixtures)', () => {
  for (const fixture of ['store-wal-v1', 'store-v0.1-wal-only']) {
    it(`${fixture}: every record and every bit of its header checks as the reference checker does`, () => {
      const directory = join(import.meta.dirname, 'fixtures', fixture, 'wal');
      let records = 0;
      for (const name of readdirSync(directory).sort()) {
        const image = readFileSync(join(directory, name));
        const header = decodeSegmentHeader(image, hash);
        if (typeof header === 'string') throw new Error(`${name}: ${header}`);
        const tag = recordTagOf(header.formatVersion, header.segmentNumber);
        let offset = SEGMENT_HEADER_BYTES;
        for (;;) {
          const check = checkRecord(image, offset, hash, tag);
          expect(check).toEqual(referenceCheck(image, offset, tag));
          if (check.kind !== 'valid') {
            expect(check.kind).toBe('end');
            break;
          }
          records++;
          for (let byte = 0; byte < RECORD_HEADER_BYTES; byte += 1) {
            for (const bit of [0, 3, 7]) {
              image[offset + byte]! ^= 1 << bit;
              expectSameVerdicts(image, [offset], tag);
              image[offset + byte]! ^= 1 << bit;
            }
          }
          offset += check.lengthBytes;
        }
        expectSameVerdicts(image, [offset, offset + 1], tag);
      }
      expect(records).toBeGreaterThan(2);
    });
  }
});
