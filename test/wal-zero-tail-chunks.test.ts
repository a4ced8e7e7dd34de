/**
 * Recovery's zeroing of a torn tail (wal-scan.ts zeroTail) writes at most 1 MiB at a
 * time: in a recycled segment the tail runs to the last non-zero byte of the file (its
 * earlier use's records), up to the segment's whole size (SEGMENT_BYTES_MAX, 1 GiB),
 * which one Buffer.alloc of that size used to hold. The file and the image read back
 * the same as a single write's: the bytes before the offset untouched, zeros from it to
 * the file's end, one datasync.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { zeroTail } from '../src/wal/wal-scan.js';

const MEBIBYTE = 1024 * 1024;
const PATH = '/wal/wal-0000000002.log';

/** Records the length of every write and the datasyncs of handles it opens. */
class RecordingFileSystem implements FileSystem {
  readonly writes: number[] = [];
  datasyncs = 0;

  constructor(readonly inner: FaultFileSystem) {}

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return Object.assign(Object.create(handle) as FileHandle, {
      path: handle.path,
      write: (data: Uint8Array, position: number) => {
        this.writes.push(data.length);
        return handle.write(data, position);
      },
      datasync: (mayBlock?: boolean) => {
        this.datasyncs++;
        return handle.datasync(mayBlock);
      },
      read: handle.read.bind(handle),
      sync: handle.sync.bind(handle),
      truncate: handle.truncate.bind(handle),
      size: handle.size.bind(handle),
      close: handle.close.bind(handle),
    });
  }

  readFile = (path: string) => this.inner.readFile(path);
  readdir = (dir: string) => this.inner.readdir(dir);
  mkdir = (dir: string) => this.inner.mkdir(dir);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  link = (existingPath: string, newPath: string) => this.inner.link(existingPath, newPath);
  unlink = (path: string) => this.inner.unlink(path);
  exists = (path: string) => this.inner.exists(path);
  syncDirectory = (dir: string) => this.inner.syncDirectory(dir);
}

async function fileWith(content: Uint8Array): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(1);
  await fileSystem.mkdir('/wal');
  await fileSystem.syncDirectory('/');
  const handle = await fileSystem.open(PATH, 'createExclusive');
  await handle.write(content, 0);
  await handle.sync();
  await handle.close();
  await fileSystem.syncDirectory('/wal');
  return fileSystem;
}

describe('zeroTail writes a long tail in chunks', () => {
  for (const [label, sizeBytes, offset, trailingZeros] of [
    ['a tail of 3.5 MiB and some bytes, not a whole number of chunks', 3.5 * MEBIBYTE + 4_321, 9_000, 0],
    ['a tail of exactly 2 MiB', 2 * MEBIBYTE + 4_096, 4_096, 0],
    ['a tail whose file ends in zeros (zeroed to the last non-zero byte)', 3 * MEBIBYTE, 70_000, 300_000],
    ['a tail shorter than one chunk', 200_000, 64, 0],
  ] as const) {
    it(`${label}: the same bytes as one write, every write at most 1 MiB, one datasync`, async () => {
      const content = randomBytes(sizeBytes);
      content.fill(0, sizeBytes - trailingZeros);
      // A non-zero last data byte, so the tail's end is known exactly.
      content[sizeBytes - trailingZeros - 1] = 0xa5;
      const fileSystem = new RecordingFileSystem(await fileWith(content));
      const image = Buffer.from(content);
      const result = await zeroTail(fileSystem, { segmentNumber: 2, path: PATH, image, tag: 2 }, offset);

      const expected = Buffer.from(content);
      expected.fill(0, offset);
      expect(result).toEqual({ file: PATH, offset, zeroedBytes: sizeBytes - trailingZeros - offset });
      expect(image.equals(expected)).toBe(true);
      const durable = fileSystem.inner.crash('drop-unsynced');
      expect(Buffer.from(await durable.readFile(PATH)).equals(expected)).toBe(true);
      expect(Math.max(...fileSystem.writes)).toBeLessThanOrEqual(MEBIBYTE);
      expect(fileSystem.writes.reduce((sum, length) => sum + length, 0)).toBe(sizeBytes - trailingZeros - offset);
      expect(fileSystem.datasyncs).toBe(1);
    });
  }

  it('a tail already zero writes nothing', async () => {
    const content = randomBytes(100_000);
    content.fill(0, 50_000);
    const fileSystem = new RecordingFileSystem(await fileWith(content));
    const result = await zeroTail(fileSystem, { segmentNumber: 2, path: PATH, image: Buffer.from(content), tag: 2 }, 50_000);
    expect(result.zeroedBytes).toBe(0);
    expect(fileSystem.writes).toEqual([]);
  });
});
