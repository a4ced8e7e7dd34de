/**
 * Torn tail versus corruption in the middle of the log.
 *
 * The stores are built through the public API, closed cleanly, and then damaged
 * with flipBit on their durable WAL bytes. Record boundaries, versions and commit
 * counts are read from the bytes by a small parser written here from
 * docs/FORMAT.md, independently of src/wal, so every expected offset and count in
 * a recovery or repair report is computed, not copied from the code under test.
 */
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { CorruptionError, ErrorCode } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { prepareValue, readStored, storedFromEncoded } from '../src/codec/values.js';
import type { Store } from '../src/store/store.js';
import { openOn, scanAll, segmentPath, WAL_DIR } from './workload.js';

// ---------------------------------------------------------------------------
// An independent reader of the WAL format (docs/FORMAT.md)

const SEGMENT_HEADER_BYTES = 64;
const RECORD_HEADER_BYTES = 32;

interface ParsedRecord {
  path: string;
  offset: number;
  lengthBytes: number;
  firstVersion: number;
  versions: number[];
  keys: string[];
}

function u64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32;
}

/** The records of a clean segment image, in order, up to the first all-zero record header. */
function parseSegment(path: string, image: Uint8Array): ParsedRecord[] {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const records: ParsedRecord[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + RECORD_HEADER_BYTES <= image.length && image.subarray(offset, offset + RECORD_HEADER_BYTES).some((byte) => byte !== 0)) {
    const payloadLength = view.getUint32(offset + 12, true);
    const firstVersion = u64(view, offset + 16);
    const commitCount = view.getUint32(offset + 24, true);
    const versions: number[] = [];
    const keys: string[] = [];
    let position = offset + RECORD_HEADER_BYTES;
    for (let commit = 0; commit < commitCount; commit++) {
      versions.push(firstVersion + view.getUint32(position, true));
      const operationCount = view.getUint32(position + 4, true);
      position += 8;
      for (let operation = 0; operation < operationCount; operation++) {
        const type = image[position]!;
        const keyLength = view.getUint16(position + 1, true);
        keys.push(Buffer.from(image.subarray(position + 3, position + 3 + keyLength)).toString('utf8'));
        position += 3 + keyLength;
        if (type === 1) position += 4 + view.getUint32(position, true);
      }
    }
    const lengthBytes = RECORD_HEADER_BYTES + payloadLength;
    expect(position, `record at ${offset} of ${path} decodes to its length`).toBe(offset + lengthBytes);
    records.push({ path, offset, lengthBytes, firstVersion, versions, keys });
    offset += lengthBytes;
  }
  return records;
}

function durable(fileSystem: FaultFileSystem, path: string): Uint8Array {
  const content = fileSystem.durableContent(path);
  if (content === undefined) throw new Error(`${path} is not durable`);
  return content;
}

function walSegments(fileSystem: FaultFileSystem): string[] {
  return fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/`));
}

function recordsOf(fileSystem: FaultFileSystem, path: string): ParsedRecord[] {
  return parseSegment(path, durable(fileSystem, path));
}

/** One past the last non-zero byte of `path`'s durable content. */
function endOfData(fileSystem: FaultFileSystem, path: string): number {
  const image = durable(fileSystem, path);
  let end = image.length;
  while (end > 0 && image[end - 1] === 0) end--;
  return end;
}

/** Flips one bit in the payload of `record` (its checksum no longer matches). */
function corruptPayload(fileSystem: FaultFileSystem, record: ParsedRecord): void {
  fileSystem.flipBit(record.path, record.offset + RECORD_HEADER_BYTES + 5, 3);
}

async function openFails(fileSystem: FaultFileSystem): Promise<CorruptionError> {
  const error = await openOn(fileSystem).then(
    (store) => {
      throw new Error(`open succeeded at version ${store.version}`);
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CorruptionError);
  expect(error).toMatchObject({ code: ErrorCode.Corruption });
  return error as CorruptionError;
}

/** The content a store must hold when exactly the commits up to `lastVersion` survive. */
function contentUpTo(written: Map<string, { version: number; value: unknown }>, lastVersion: number): Map<string, unknown> {
  return new Map([...written].filter(([, entry]) => entry.version <= lastVersion).map(([key, entry]) => [key, entry.value]));
}

// ---------------------------------------------------------------------------
// Stores with a known WAL layout

interface BuiltStore {
  fileSystem: FaultFileSystem;
  /** Every key written, with the version and value of its one write. */
  written: Map<string, { version: number; value: unknown }>;
}

async function put(store: Store, written: BuiltStore['written'], key: string, value: unknown): Promise<void> {
  const { version } = await store.put(key, value);
  written.set(key, { version, value });
}

/**
 * One segment: seven puts one after another (seven records, versions 1..7), then
 * three concurrent puts that share one group commit (one record, versions 8..10).
 */
async function singleSegmentStore(): Promise<BuiltStore & { records: ParsedRecord[] }> {
  const fileSystem = new FaultFileSystem(21);
  const written: BuiltStore['written'] = new Map();
  const store = await openOn(fileSystem);
  for (let index = 1; index <= 7; index++) await put(store, written, `k${index}`, { index, text: `value ${index}` });
  await Promise.all(['g8', 'g9', 'g10'].map((key) => put(store, written, key, { group: key })));
  await store.close();
  const records = recordsOf(fileSystem, segmentPath(1));
  // The layout the tests rely on.
  expect(records.map((record) => record.versions)).toEqual([[1], [2], [3], [4], [5], [6], [7], [8, 9, 10]]);
  expect(walSegments(fileSystem)).toEqual([segmentPath(1)]);
  return { fileSystem, written, records };
}

/** Puts one after another until segment `segments` is in use, then closes. */
async function multiSegmentStore(segments: number): Promise<BuiltStore> {
  const fileSystem = new FaultFileSystem(22);
  const written: BuiltStore['written'] = new Map();
  const store = await openOn(fileSystem);
  for (let index = 0; store.stats().walSegment < segments; index++) {
    await put(store, written, `m${String(index).padStart(3, '0')}`, { index, pad: 'z'.repeat(700) });
  }
  await store.close();
  return { fileSystem, written };
}

// ---------------------------------------------------------------------------

describe('a damaged last record is a torn tail', () => {
  it('is dropped and zeroed, reported with its file and offset, and the store opens and writes after it', async () => {
    const { fileSystem, written, records } = await singleSegmentStore();
    const last = records.at(-1)!;
    corruptPayload(fileSystem, last);
    const dataEnd = endOfData(fileSystem, segmentPath(1));

    const store = await openOn(fileSystem);
    expect(store.version).toBe(7);
    expect(await scanAll(store)).toEqual(contentUpTo(written, 7));
    expect(store.stats().recovery.tornTail).toEqual({ file: segmentPath(1), offset: last.offset, zeroedBytes: dataEnd - last.offset });
    expect(store.stats().recovery.repair).toBeUndefined();
    // The zeroing is durable.
    expect(durable(fileSystem, segmentPath(1)).subarray(last.offset).every((byte) => byte === 0)).toBe(true);

    // Writing resumes where the torn record was.
    expect((await store.put('after', 1)).version).toBe(8);
    await store.close();
    const after = recordsOf(fileSystem, segmentPath(1));
    expect(after.at(-1)).toMatchObject({ offset: last.offset, versions: [8], keys: ['after'] });

    const reopened = await openOn(fileSystem);
    expect(reopened.stats().recovery.tornTail).toBeUndefined();
    expect(await scanAll(reopened)).toEqual(new Map([...contentUpTo(written, 7), ['after', 1]]));
    await reopened.close();
  });

  it('also when an empty, pre-created next segment follows', async () => {
    const { fileSystem, written } = await multiSegmentStore(1);
    // Fill segment 1 past half, so segment 2 is pre-created (valid header, no record).
    const store = await openOn(fileSystem);
    for (let index = 0; walSegments(fileSystem).length < 2; index++) {
      await put(store, written, `f${String(index).padStart(3, '0')}`, { pad: 'f'.repeat(700) });
    }
    await store.close();
    expect(recordsOf(fileSystem, segmentPath(2))).toEqual([]);
    const records = recordsOf(fileSystem, segmentPath(1));
    const last = records.at(-1)!;
    corruptPayload(fileSystem, last);

    const reopened = await openOn(fileSystem);
    expect(reopened.stats().recovery.tornTail).toMatchObject({ file: segmentPath(1), offset: last.offset });
    expect(reopened.version).toBe(last.firstVersion - 1);
    expect(await scanAll(reopened)).toEqual(contentUpTo(written, last.firstVersion - 1));
    await reopened.put('after', 1);
    await reopened.close();
    const again = await openOn(fileSystem);
    expect(again.version).toBe(last.firstVersion);
    expect(await again.get('after')).toBe(1);
    await again.close();
  });

  it('a checksum-valid last record that fails validation is never zeroed: the open fails and the bytes stay (issue 13, defect 1)', async () => {
    // Rewrite the group record (versions 8, 9, 10) so its third commit claims version
    // 8 again, with a correct checksum: a torn write cannot produce a valid checksum,
    // so this is not a torn tail. The open (with or without repair) fails, and
    // nothing on disk changes.
    const { fileSystem, written, records } = await singleSegmentStore();
    const group = records.at(-1)!;
    const image = durable(fileSystem, segmentPath(1));
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    // Offset of the third commit's version delta: walk the first two commits (one put each).
    let position = group.offset + RECORD_HEADER_BYTES;
    for (let commit = 0; commit < 2; commit++) {
      const keyLength = view.getUint16(position + 8 + 1, true);
      const valueLength = view.getUint32(position + 8 + 3 + keyLength, true);
      position += 8 + 3 + keyLength + 4 + valueLength;
    }
    expect(view.getUint32(position, true)).toBe(2);
    const patched = image.slice();
    new DataView(patched.buffer).setUint32(position, 0, true);
    const { h64Raw } = await xxhash();
    new DataView(patched.buffer).setBigUint64(group.offset, h64Raw(patched.subarray(group.offset + 8, group.offset + group.lengthBytes)), true);
    for (let byte = group.offset; byte < group.offset + group.lengthBytes; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        if (((image[byte]! ^ patched[byte]!) >> bit) & 1) fileSystem.flipBit(segmentPath(1), byte, bit);
      }
    }

    const damaged = durable(fileSystem, segmentPath(1));
    const error = await openFails(fileSystem);
    expect(error).toMatchObject({ file: segmentPath(1), offset: group.offset });
    expect(error.message).toContain('checksum-valid');
    const repairError = await openOn(fileSystem, { repair: true }).then(() => undefined, (caught: unknown) => caught);
    expect(repairError).toBeInstanceOf(CorruptionError);
    expect(durable(fileSystem, segmentPath(1))).toEqual(damaged);
    expect(written.size).toBe(10);
  });
});

describe('recovered values', () => {
  it('a value decoded from a segment image is a copy: zeroing the image (as a torn-tail repair does) leaves it intact', () => {
    const value = { nested: { list: [1, 2, 3] }, text: 'kept' };
    const { encoded } = prepareValue(value, 4096);
    const image = Buffer.alloc(1024);
    image.set(encoded, 100);
    const stored = storedFromEncoded(image.subarray(100, 100 + encoded.length));
    image.fill(0);
    expect(readStored(stored)).toEqual(value);
  });
});

describe('a damaged record with valid records after it is corruption', () => {
  it('refuses to open with CorruptionError naming the segment and offset, and changes nothing on disk', async () => {
    const { fileSystem, records } = await singleSegmentStore();
    const target = records[5]!;
    expect(target.versions).toEqual([6]);
    corruptPayload(fileSystem, target);
    const damaged = durable(fileSystem, segmentPath(1));

    const error = await openFails(fileSystem);
    expect(error.file).toBe(segmentPath(1));
    expect(error.offset).toBe(target.offset);
    expect(error.message).toContain(segmentPath(1));
    expect(durable(fileSystem, segmentPath(1))).toEqual(damaged);
    // Refused again, the same way (the failed open released its lock).
    expect((await openFails(fileSystem)).offset).toBe(target.offset);
  });

  it('with repair: keeps exactly the valid prefix and reports file, offset, records, commits and versions dropped', async () => {
    const { fileSystem, written, records } = await singleSegmentStore();
    const target = records[5]!;
    corruptPayload(fileSystem, target);
    const dataEnd = endOfData(fileSystem, segmentPath(1));
    // Dropped: the damaged record itself (its header still reads: one commit) and the readable ones after it.
    const dropped = records.slice(5);
    const droppedVersions = dropped.flatMap((record) => record.versions);

    const store = await openOn(fileSystem, { repair: true });
    // Numbering resumes above every dropped version (issue 13, defect 9): versions never repeat.
    expect(store.version).toBe(Math.max(...droppedVersions));
    expect(await scanAll(store)).toEqual(contentUpTo(written, 5));
    const repair = store.stats().recovery.repair;
    expect(repair).toMatchObject({
      file: segmentPath(1),
      offset: target.offset,
      droppedRecords: dropped.length,
      droppedCommits: droppedVersions.length,
      droppedSegments: [],
      droppedBytes: dataEnd - target.offset,
    });
    expect(repair?.droppedVersions).toEqual({ first: 6, last: 10 });
    // The kept prefix is followed by the version marker (40 bytes), then zeros.
    expect(durable(fileSystem, segmentPath(1)).subarray(target.offset + 40).every((byte) => byte === 0)).toBe(true);
    expect(recordsOf(fileSystem, segmentPath(1)).at(-1)).toMatchObject({ offset: target.offset, versions: [10], keys: [] });
    await store.put('after-repair', 1);
    await store.close();

    // The repaired log opens without repair, with the valid prefix and the new write.
    const reopened = await openOn(fileSystem);
    expect(reopened.stats().recovery.repair).toBeUndefined();
    expect(reopened.stats().recovery.tornTail).toBeUndefined();
    expect(await scanAll(reopened)).toEqual(new Map([...contentUpTo(written, 5), ['after-repair', 1]]));
    expect(reopened.version).toBe(11);
    await reopened.close();
  });

  it('a damaged record in a segment before the last one holding data is corruption, even as that segment\'s last record', async () => {
    const { fileSystem, written } = await multiSegmentStore(3);
    const first = recordsOf(fileSystem, segmentPath(1));
    const target = first.at(-1)!;
    corruptPayload(fileSystem, target);
    const later = walSegments(fileSystem).filter((path) => path > segmentPath(1));
    const laterRecords = later.flatMap((path) => recordsOf(fileSystem, path));
    expect(laterRecords.length).toBeGreaterThan(0);

    const error = await openFails(fileSystem);
    expect(error).toMatchObject({ file: segmentPath(1), offset: target.offset });

    const repaired = await openOn(fileSystem, { repair: true });
    const keptVersion = target.firstVersion - 1;
    const droppedVersions = [...target.versions, ...laterRecords.flatMap((record) => record.versions)];
    expect(repaired.version).toBe(Math.max(...droppedVersions));
    expect(await scanAll(repaired)).toEqual(contentUpTo(written, keptVersion));
    expect(repaired.stats().recovery.repair).toMatchObject({
      file: segmentPath(1),
      offset: target.offset,
      droppedRecords: laterRecords.length + 1,
      droppedCommits: droppedVersions.length,
      droppedVersions: { first: keptVersion + 1, last: Math.max(...droppedVersions) },
      droppedSegments: later,
    });
    expect(walSegments(fileSystem)).toEqual([segmentPath(1)]);
    await repaired.close();
    const reopened = await openOn(fileSystem);
    expect(await scanAll(reopened)).toEqual(contentUpTo(written, keptVersion));
    await reopened.close();
  });
});

describe('zeroed bytes in the middle of the log', () => {
  it('a record whose header reads as zeros (a lost sector) with valid records after it is corruption, not the end of the log', async () => {
    const { fileSystem, records } = await singleSegmentStore();
    const target = records[5]!;
    const image = durable(fileSystem, segmentPath(1));
    for (let byte = target.offset; byte < target.offset + RECORD_HEADER_BYTES; byte++) {
      for (let bit = 0; bit < 8; bit++) if ((image[byte]! >> bit) & 1) fileSystem.flipBit(segmentPath(1), byte, bit);
    }
    expect(durable(fileSystem, segmentPath(1)).subarray(target.offset, target.offset + RECORD_HEADER_BYTES).every((byte) => byte === 0)).toBe(true);

    const outcome = await openOn(fileSystem).then(
      async (store) => {
        const description = `opened at version ${store.version}, recovery ${JSON.stringify(store.stats().recovery)}`;
        await store.close();
        return description;
      },
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(CorruptionError);
    expect(outcome).toMatchObject({ file: segmentPath(1), offset: target.offset });
  });
});

describe('missing segments', () => {
  it('a segment missing from the middle of the log is corruption, not a silent gap', async () => {
    const { fileSystem, written } = await multiSegmentStore(3);
    const lost = recordsOf(fileSystem, segmentPath(2)).flatMap((record) => record.versions);
    expect(lost.length).toBeGreaterThan(0);
    expect(recordsOf(fileSystem, segmentPath(3)).length).toBeGreaterThan(0);
    await fileSystem.unlink(segmentPath(2));
    await fileSystem.syncDirectory(WAL_DIR);

    const outcome = await openOn(fileSystem).then(
      async (store) => {
        const description = `opened at version ${store.version} with ${(await scanAll(store)).size} of ${written.size} keys, recovery ${JSON.stringify(store.stats().recovery)}`;
        await store.close();
        return description;
      },
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(CorruptionError);
    expect(outcome).toMatchObject({ code: ErrorCode.Corruption });
  });
});

describe('segment headers', () => {
  it('a damaged header of a segment holding records is corruption at offset 0', async () => {
    const { fileSystem, written } = await multiSegmentStore(3);
    expect(recordsOf(fileSystem, segmentPath(2)).length).toBeGreaterThan(0);
    fileSystem.flipBit(segmentPath(2), 20, 0); // the segment number field
    const error = await openFails(fileSystem);
    expect(error).toMatchObject({ file: segmentPath(2), offset: 0 });

    // Repair drops that segment and every later one, keeping segment 1.
    const segment1 = recordsOf(fileSystem, segmentPath(1));
    const keptVersion = segment1.at(-1)!.versions.at(-1)!;
    const highestDropped = Math.max(...[2, 3].flatMap((number) => recordsOf(fileSystem, segmentPath(number)).flatMap((record) => record.versions)));
    const repaired = await openOn(fileSystem, { repair: true });
    expect(repaired.version).toBe(highestDropped);
    expect(await scanAll(repaired)).toEqual(contentUpTo(written, keptVersion));
    expect(repaired.stats().recovery.repair).toMatchObject({ file: segmentPath(2), droppedSegments: expect.arrayContaining([segmentPath(2), segmentPath(3)]) });
    await repaired.close();
    const reopened = await openOn(fileSystem);
    expect(reopened.version).toBe(highestDropped);
    await reopened.close();
  });

  it('a damaged header of the last segment holding records is corruption too', async () => {
    const { fileSystem } = await multiSegmentStore(2);
    const last = walSegments(fileSystem).filter((path) => recordsOf(fileSystem, path).length > 0).at(-1)!;
    expect(last).toBe(segmentPath(2));
    fileSystem.flipBit(last, 3, 1); // the magic
    const error = await openFails(fileSystem);
    expect(error).toMatchObject({ file: last, offset: 0 });
  });

  for (const sizeBytes of [16 * 1024, 40]) {
    it(`an all-zero, headerless last segment of ${sizeBytes} bytes (a creation cut short) is removed silently`, async () => {
      const { fileSystem, written } = await singleSegmentStore();
      const handle = await fileSystem.open(segmentPath(2), 'createExclusive');
      await handle.write(new Uint8Array(sizeBytes), 0);
      await handle.datasync();
      await handle.close();
      await fileSystem.syncDirectory(WAL_DIR);

      const store = await openOn(fileSystem);
      expect(store.stats().recovery.removedSegments).toEqual([segmentPath(2)]);
      expect(store.stats().recovery.tornTail).toBeUndefined();
      expect(store.stats().recovery.repair).toBeUndefined();
      expect(await scanAll(store)).toEqual(contentUpTo(written, 10));
      expect(store.version).toBe(10);
      expect(fileSystem.durableContent(segmentPath(2))).toBeUndefined();
      await store.put('after', 1);
      await store.close();
      const reopened = await openOn(fileSystem);
      expect(reopened.version).toBe(11);
      expect(reopened.stats().recovery.removedSegments).toEqual([]);
      await reopened.close();
    });
  }
});
