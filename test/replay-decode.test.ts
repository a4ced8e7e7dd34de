/**
 * Issue 7 (killed reopen): replay decodes a record in one walk of its payload
 * (src/wal/wal-record-read.ts, decodeRecordWith: the one decoder; decodeRecord is it with
 * WAL_OPERATION_DECODER) and builds the memtable's form straight
 * from the segment image (src/store/open-store.ts, replayDecoder; src/codec/values.ts,
 * ValueSlabs and storedFromEncodedRange).
 *
 * - decodeRecordWith(WAL_OPERATION_DECODER) and decodeRecord answer what a plain
 *   reference decoder written here (the second implementation wal-format.ts had until
 *   the two were made one) answers, on random records and on random damage to their
 *   payloads (same refusals, same messages).
 * - A commit the decoder does not keep is still checked for framing.
 * - Replayed byte values are copies carved from shared slabs, each exactly its bytes.
 * - Every kind of value reads back the same after a crash (keep-all) and replay as
 *   before it, types included (a nested Buffer stays a Buffer).
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { encodeValue, readStored, storedFromEncodedRange } from '../src/codec/values.js';
import { EncodedValue, ValueSlabs } from '../src/codec/value-slabs.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { REPLAY_VALUE_SLAB_BYTES } from '../src/limits.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  encodeRecord,
  type FramedCommit,
  type Hash64,
  OPERATION_DELETE,
  OPERATION_PUT,
  operationsSizeBytes,
  RECORD_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { decodeRecord } from '../src/wal/wal-record-read.js';
import { decodeRecordWith, MalformedPayloadError, type OperationDecoder, WAL_OPERATION_DECODER } from '../src/wal/wal-recovery.js';

/** The oracle: a record decoded one commit at a time, views into the image; throws the reason. */
function referenceDecode(image: Buffer, offset: number): ReturnType<typeof decodeRecord> {
  const end = offset + RECORD_HEADER_BYTES + image.readUInt32LE(offset + 12);
  const firstVersion = image.readUInt32LE(offset + 16) + image.readUInt32LE(offset + 20) * 2 ** 32;
  const commits: ReturnType<typeof decodeRecord> = [];
  let position = offset + RECORD_HEADER_BYTES;
  for (let index = 0; index < image.readUInt32LE(offset + 24); index++) {
    if (position + COMMIT_HEADER_BYTES > end) throw new Error('commit header past the payload');
    const version = firstVersion + image.readUInt32LE(position);
    const operationCount = image.readUInt32LE(position + 4);
    position += COMMIT_HEADER_BYTES;
    const operations: ReturnType<typeof decodeRecord>[number]['operations'] = [];
    for (let operation = 0; operation < operationCount; operation++) {
      if (position + 3 > end) throw new Error('operation header past the payload');
      const type = image[position]!;
      const keyLength = image.readUInt16LE(position + 1);
      position += 3;
      if (position + keyLength > end) throw new Error('key past the payload');
      const key = image.subarray(position, position + keyLength);
      position += keyLength;
      if (type === OPERATION_DELETE) {
        operations.push({ type: OPERATION_DELETE, key });
        continue;
      }
      if (type !== OPERATION_PUT || position + 4 > end) throw new Error(`bad operation type ${type}`);
      const valueLength = image.readUInt32LE(position);
      position += 4;
      if (position + valueLength > end) throw new Error('value past the payload');
      operations.push({ type: OPERATION_PUT, key, value: image.subarray(position, position + valueLength) });
      position += valueLength;
    }
    commits.push({ version, operations });
  }
  if (position !== end) throw new Error('record payload has trailing bytes');
  return commits;
}

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function below(random: SeededRandom, count: number): number {
  return random.nextIntInclusive(0, count - 1);
}

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => below(random, 256));
}

function randomRecord(random: SeededRandom): Buffer {
  const commits: FramedCommit[] = [];
  let version = 1 + below(random, 1000);
  for (let commit = 0; commit < 1 + below(random, 4); commit++) {
    const operations: EncodableOperation[] = Array.from({ length: below(random, 6) }, () => {
      const key = randomBytes(random, 1 + below(random, 40));
      return below(random, 4) === 0
        ? { type: OPERATION_DELETE, key }
        : { type: OPERATION_PUT, key, value: randomBytes(random, below(random, 3) === 0 ? below(random, 9000) : below(random, 120)) };
    });
    commits.push({ version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) });
    version += 1 + below(random, 3);
  }
  const size = RECORD_HEADER_BYTES + commits.reduce((sum, commit) => sum + commit.sizeBytes, 0);
  const image = Buffer.alloc(size);
  expect(encodeRecord(commits, image, 0, hash)).toBe(size);
  return image;
}

/** Commits in a form cheap to compare (hex keys and values). */
function shown(commits: ReturnType<typeof decodeRecord>): string[] {
  return commits.map((commit) => `${commit.version}:${commit.operations.map((operation) => (
    `${operation.type}/${Buffer.from(operation.key).toString('hex')}/${operation.type === OPERATION_PUT ? Buffer.from(operation.value).toString('hex') : ''}`)).join(',')}`);
}

/** What a decoder answers: its commits, or its refusal's message. */
function outcome(decode: () => ReturnType<typeof decodeRecord>): unknown {
  try {
    return { commits: shown(decode()) };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}

describe('decodeRecordWith', () => {
  it('answers as the reference decoder on random records and on random damage to their payloads', () => {
    const random = new SeededRandom(2026);
    let refusals = 0;
    for (let round = 0; round < 400; round++) {
      const image = randomRecord(random);
      expect(shown(decodeRecordWith(image, 0, WAL_OPERATION_DECODER))).toEqual(shown(referenceDecode(image, 0)));
      expect(shown(decodeRecord(image, 0))).toEqual(shown(referenceDecode(image, 0)));
      // Damage: bytes of the payload overwritten (no checksum is checked by either decoder).
      for (let damage = 0; damage < 4; damage++) {
        const damaged = Buffer.from(image);
        for (let hit = 0; hit < 1 + below(random, 3); hit++) {
          const at = RECORD_HEADER_BYTES + below(random, damaged.length - RECORD_HEADER_BYTES);
          damaged[at] = below(random, 4) === 0 ? 0xff : below(random, 256);
        }
        const expected = outcome(() => referenceDecode(damaged, 0));
        expect(outcome(() => decodeRecordWith(damaged, 0, WAL_OPERATION_DECODER))).toEqual(expected);
        expect(outcome(() => decodeRecord(damaged, 0))).toEqual(expected);
        if ('refused' in (expected as object)) {
          refusals++;
          expect(() => decodeRecordWith(damaged, 0, WAL_OPERATION_DECODER)).toThrow(MalformedPayloadError);
          expect(() => decodeRecord(damaged, 0)).toThrow(MalformedPayloadError);
        }
      }
    }
    expect(refusals, 'the damage reached the refusals').toBeGreaterThan(100);
  });

  it('checks the framing of a commit it does not keep, and builds nothing of it', () => {
    const random = new SeededRandom(5);
    const image = randomRecord(random);
    const built: number[] = [];
    const skipAll: OperationDecoder<number> = {
      keeps: () => false,
      put: (_image, keyStart) => built.push(keyStart),
      delete: (_image, keyStart) => built.push(keyStart),
    };
    const commits = decodeRecordWith(image, 0, skipAll);
    expect(commits.map((commit) => commit.version)).toEqual(referenceDecode(image, 0).map((commit) => commit.version));
    expect(commits.every((commit) => commit.operations.length === 0) && built.length === 0).toBe(true);
    // A payload length one short leaves the last commit's bytes unframed: refused all the same.
    const short = Buffer.from(image);
    short.writeUInt32LE(short.readUInt32LE(12) - 1, 12);
    expect(() => decodeRecordWith(short, 0, skipAll)).toThrow(MalformedPayloadError);
  });
});

describe('replayed values', () => {
  it('are copies carved from shared slabs, each exactly its bytes, large ones in their own array', () => {
    const random = new SeededRandom(9);
    const slabs = new ValueSlabs();
    const image = Buffer.alloc(64 * 1024);
    const kept: Array<{ bytes: Uint8Array; expected: number[] }> = [];
    let position = 0;
    while (position < image.length - 6000) {
      const value = randomBytes(random, below(random, 3) === 0 ? 4097 + below(random, 1500) : below(random, 300));
      const encoded = encodeValue(Buffer.from(value), 1 << 20);
      image.set(encoded, position);
      const stored = storedFromEncodedRange(image, position, position + encoded.length, slabs);
      expect(stored).toBeInstanceOf(EncodedValue);
      const bytes = (stored as EncodedValue).bytes;
      expect(bytes.buffer).not.toBe(image.buffer);
      expect(bytes.buffer.byteLength).toBe(encoded.length > REPLAY_VALUE_SLAB_BYTES / 2 ? encoded.length : REPLAY_VALUE_SLAB_BYTES);
      expect(bytes.byteOffset % 8).toBe(0);
      kept.push({ bytes, expected: [...value] });
      position += encoded.length;
    }
    image.fill(0xee); // the image is gone after replay: the copies do not depend on it
    for (const { bytes, expected } of kept) expect([...(readStored(new EncodedValue(bytes)) as Uint8Array)]).toEqual(expected);
    expect(new Set(kept.map(({ bytes }) => bytes.buffer)).size).toBeLessThan(kept.length);
  });

  it('read back the same after a crash and replay as before it, every kind of value', async () => {
    const values: Record<string, unknown> = {
      buffer: Buffer.from([1, 2, 3, 250]),
      uint8: Uint8Array.from([9, 8, 7]),
      empty: Buffer.alloc(0),
      large: Buffer.alloc(REPLAY_VALUE_SLAB_BYTES, 7),
      string: 'héllo',
      number: 1.5,
      integer: -7,
      bigint: 2n ** 70n,
      boolean: false,
      nil: null,
      nested: { bytes: Buffer.from([4, 5]), list: [Uint8Array.from([6]), 'x', { deep: true }] },
      date: new Date(86_400_000),
    };
    const fileSystem = new FaultFileSystem(16);
    const store = await openStore('/db', { fileSystem });
    for (const [key, value] of Object.entries(values)) await store.put(key, value);
    await store.delete('string');
    await store.put('string', 'again');
    const before = Object.fromEntries(await Promise.all(Object.keys(values).map(async (key) => [key, await store.get(key)])));
    // The machine stops with the store open: the reopen replays every commit from the WAL.
    store[abandonStore]();
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('keep-all') });
    try {
      expect(reopened.stats().recovery.commits).toBeGreaterThanOrEqual(Object.keys(values).length);
      for (const key of Object.keys(values)) {
        const after = await reopened.get(key);
        expect(after, key).toEqual(before[key]);
        expect(Object.prototype.toString.call(after), key).toBe(Object.prototype.toString.call(before[key]));
        expect(Buffer.isBuffer(after), key).toBe(Buffer.isBuffer(before[key]));
      }
      const nested = (await reopened.get('nested')) as { bytes: unknown };
      expect(Buffer.isBuffer(nested.bytes)).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});
