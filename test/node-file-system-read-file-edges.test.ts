/**
 * NodeFileSystem#readFile's edges (e462c3c: sync open and fstat, positional reads on
 * the thread pool, sync close): a file that shrinks between its fstat and its read,
 * one that grows, short reads (the read loop), and a failed read, which must close
 * the descriptor. The races are forced by wrapping node:fs's own functions, which the
 * file system calls through the module object.
 */
import fs, { appendFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const originals = { fstatSync: fs.fstatSync, read: fs.read };

afterEach(() => {
  fs.fstatSync = originals.fstatSync;
  fs.read = originals.read;
  removeTemporaryDirectories();
});

function patterned(sizeBytes: number): Buffer {
  const bytes = Buffer.alloc(sizeBytes);
  for (let offset = 0; offset < sizeBytes; offset++) bytes[offset] = (offset * 7 + 3) & 0xff;
  return bytes;
}

/** The descriptors this process holds open (Linux). */
function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Runs `change` right after readFile sized the file (its fstat), before the read. */
function afterFstat(change: () => void): void {
  fs.fstatSync = ((descriptor: number, options?: fs.StatSyncOptions) => {
    const stats = originals.fstatSync(descriptor, options as never);
    change();
    return stats;
  }) as typeof fs.fstatSync;
}

describe('NodeFileSystem#readFile edges', () => {
  it('a file that shrinks after it was sized: the bytes that are left, nothing more', async () => {
    const path = join(temporaryDirectory(), 'shrinks');
    const bytes = patterned(64 * 1024);
    writeFileSync(path, bytes);
    afterFstat(() => truncateSync(path, 1000));
    const read = await new NodeFileSystem().readFile(path);
    expect(read.length).toBe(1000);
    expect(Buffer.from(read)).toEqual(bytes.subarray(0, 1000));
  });

  it('a file that grows after it was sized: the bytes it had when sized', async () => {
    const path = join(temporaryDirectory(), 'grows');
    const bytes = patterned(5000);
    writeFileSync(path, bytes);
    afterFstat(() => appendFileSync(path, patterned(3000)));
    const read = await new NodeFileSystem().readFile(path);
    expect(Buffer.from(read)).toEqual(bytes);
  });

  it('short reads: the loop reads on from where each one ended', async () => {
    const path = join(temporaryDirectory(), 'short');
    const bytes = patterned(100_003);
    writeFileSync(path, bytes);
    let requests = 0;
    fs.read = ((descriptor: number, buffer: Uint8Array, offset: number, length: number, position: number, callback: (error: NodeJS.ErrnoException | null, count: number, buffer: Uint8Array) => void) => {
      requests++;
      return originals.read(descriptor, buffer, offset, Math.min(length, 4093), position, callback);
    }) as typeof fs.read;
    const read = await new NodeFileSystem().readFile(path);
    expect(Buffer.from(read)).toEqual(bytes);
    expect(requests).toBe(Math.ceil(100_003 / 4093));
  });

  it('a failed read rejects with the error and closes the descriptor', async () => {
    const path = join(temporaryDirectory(), 'fails');
    writeFileSync(path, patterned(10_000));
    const before = openDescriptors();
    fs.read = ((_descriptor: number, _buffer: Uint8Array, _offset: number, _length: number, _position: number, callback: (error: NodeJS.ErrnoException | null, count: number) => void) => {
      setImmediate(() => callback(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' }), 0));
    }) as typeof fs.read;
    await expect(new NodeFileSystem().readFile(path)).rejects.toMatchObject({ code: 'EIO' });
    expect(openDescriptors()).toBe(before);
  });
});
