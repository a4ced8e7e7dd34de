/**
 * FileHandle.writeOffThread (src/fs/file-system.ts): the node file system writes the
 * whole buffer at the position on libuv's thread pool; the killable wrapper guards it
 * like write (refused once killed) and falls back to the inner write when the inner
 * handle has none; a new WAL segment's zero fill goes through it and the segment
 * reads back as zeros after its header.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { KillableFileSystem } from '../src/fs/killable-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { createSegment } from '../src/wal/segment-files.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  removeTemporaryDirectories();
});

describe('writeOffThread', () => {
  it('writes all of a large buffer at its position (node file system)', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new NodeFileSystem();
    const handle = await fileSystem.open(join(directory, 'file'), 'createExclusive');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let index = 0; index < data.length; index++) data[index] = (index * 31) & 0xff;
    await handle.writeOffThread!(data, 4096);
    await handle.sync();
    await handle.close();
    const onDisk = readFileSync(join(directory, 'file'));
    expect(onDisk.length).toBe(4096 + data.length);
    expect(onDisk.subarray(0, 4096).every((byte) => byte === 0)).toBe(true);
    expect(onDisk.subarray(4096).equals(data)).toBe(true);
  });

  it('the killable wrapper refuses it once killed, and falls back to write without an inner writeOffThread', async () => {
    const directory = temporaryDirectory();
    const killable = new KillableFileSystem(new NodeFileSystem());
    const handle = await killable.open(join(directory, 'file'), 'createExclusive');
    await handle.writeOffThread!(Buffer.from('abc'), 0);
    killable.kill();
    await expect(handle.writeOffThread!(Buffer.from('def'), 3)).rejects.toThrow();
    expect(readFileSync(join(directory, 'file')).toString()).toBe('abc');

    // An inner handle without writeOffThread: the wrapper's goes to its write.
    const writes: Array<[string, number]> = [];
    const plain = {
      async open(): Promise<FileHandle> {
        return {
          path: 'plain',
          read: async () => 0,
          write: async (data: Uint8Array, position: number) => void writes.push([Buffer.from(data).toString(), position]),
          datasync: async () => undefined,
          sync: async () => undefined,
          truncate: async () => undefined,
          size: async () => 0,
          close: async () => undefined,
        };
      },
    };
    const wrapped = new KillableFileSystem(plain as unknown as NodeFileSystem);
    const plainHandle = await wrapped.open('plain', 'readWrite');
    await plainHandle.writeOffThread!(Buffer.from('xyz'), 9);
    expect(writes).toEqual([['xyz', 9]]);
  });

  it("a new WAL segment's zero fill goes through writeOffThread and leaves zeros after the header", async () => {
    const directory = temporaryDirectory();
    const fileSystem = new NodeFileSystem();
    const hash = await loadHash64();
    const offThreadBytes: number[] = [];
    // The real file system, with each handle's writeOffThread counted (delegating: the handle's fields are private).
    const counting = Object.create(fileSystem) as NodeFileSystem;
    counting.open = async (path, mode) => {
      const inner = await fileSystem.open(path, mode);
      return {
        path: inner.path,
        read: (buffer, offset, length, position) => inner.read(buffer, offset, length, position),
        write: (data, position) => inner.write(data, position),
        writeOffThread: (data, position) => {
          offThreadBytes.push(data.length);
          return inner.writeOffThread!(data, position);
        },
        datasync: (mayBlock) => inner.datasync(mayBlock),
        sync: () => inner.sync(),
        truncate: (sizeBytes) => inner.truncate(sizeBytes),
        size: () => inner.size(),
        close: () => inner.close(),
      };
    };
    const sizeBytes = 1024 * 1024;
    const created = await createSegment(counting, directory, 1, sizeBytes, hash);
    await created.handle.close();
    expect(offThreadBytes.reduce((sum, length) => sum + length, 0)).toBe(sizeBytes);
    const onDisk = readFileSync(join(directory, 'wal-0000000001.log'));
    expect(onDisk.length).toBe(sizeBytes);
    expect(onDisk.subarray(4096).every((byte) => byte === 0)).toBe(true);
  });
});
