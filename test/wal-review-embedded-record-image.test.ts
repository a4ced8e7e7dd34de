/**
 * A value holding images of WAL records, in a recycled segment's earlier-use bytes.
 *
 * A format-2 record's use tag comes from its segment's number (docs/FORMAT.md), not a
 * random salt, so a value can hold a checksum-valid image of a record of a segment
 * yet to come (another store's segment kept as a value, say). When the file that value
 * was logged in is recycled and becomes that segment, the image lies past the log's
 * end, and recovery's lost-write check reads it as a record after the end: even a
 * clean close and reopen is refused with CorruptionError (docs/ARCHITECTURE.md,
 * "Planned, not built yet"). What this pins down: the refusal names the file and
 * offset; repair keeps every acknowledged commit exactly, applies nothing of the image
 * (no key of it appears) and numbers above the image's version; nothing is silent.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { COMMIT_HEADER_BYTES, encodeRecord, recordTagOf } from '../src/wal/wal-format.js';

const DIRECTORY = '/db';
const IMAGE_VERSION = 1_000_000;

describe('a value holding WAL record images of a later segment\'s use tag', () => {
  it('in a recycled file that becomes that segment: a reopen is refused, repair keeps every acknowledged commit and applies nothing of the image', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(3);
    const options = { fileSystem, checkpointOnClose: false, segmentSizeBytes: 1024 * 1024 } as const;
    const store = await openStore(DIRECTORY, options);
    const written = new Map<string, unknown>();
    const put = async (key: string, value: unknown) => {
      await store.put(key, value);
      written.set(key, value);
    };
    // Version markers (records of one commit, no operation) tagged for segments 1-12.
    const images = Array.from({ length: 12 }, (_, index) => {
      const image = Buffer.alloc(40);
      encodeRecord([{ version: IMAGE_VERSION + index + 1, operations: [], sizeBytes: COMMIT_HEADER_BYTES }], image, 0, hash, recordTagOf(2, index + 1));
      return image;
    });
    // Past the first 20 KiB of segment 1, where the later use's few records do not reach.
    for (let index = 0; index < 20; index++) await put(`early${index}`, 'z'.repeat(1000));
    await put('blob', Buffer.concat(images));
    await store.checkpoint();
    // 16 KiB, 32 KiB, then segment 4 of 64 KiB: made from segment 1's file.
    for (let index = 0; store.stats().walSegment < 4; index++) await put(`f${index}`, 'y'.repeat(900));
    expect(fileSystem.listPaths().filter((path) => path.includes('/recycled-'))).toEqual([]);
    const lastVersion = store.version;
    await store.close();

    const refused = await openStore(DIRECTORY, options).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect(refused).toMatchObject({ file: '/db/wal/wal-0000000004.log' });
    expect((refused as CorruptionError).message).toMatch(/a lost write/);

    const repaired = await openStore(DIRECTORY, { ...options, repair: true });
    expect(repaired.stats().recovery.repair).toMatchObject({ droppedVersions: { first: lastVersion + 1, last: IMAGE_VERSION + 4 } });
    for (const [key, value] of written) {
      const read = await repaired.get(key);
      expect(Buffer.isBuffer(value) ? Buffer.from(read as Uint8Array).equals(value) : read).toEqual(Buffer.isBuffer(value) ? true : value);
    }
    const keys: string[] = [];
    for await (const [key] of repaired.scan()) keys.push(String(key));
    expect(keys.sort()).toEqual([...written.keys()].sort());
    expect((await repaired.put('next', 1)).version).toBe(IMAGE_VERSION + 5);
    await repaired.close();
  });
});
