/**
 * NodeFileSystem#readFile (issue 7, killed reopen): a file's bytes come from one
 * thread-pool request, whatever its size. WAL recovery reads the next segment while
 * the current one replays synchronously; fs.promises.readFile read it in 512 KiB
 * requests, each one waiting for an event-loop turn, so only the first ran beside the
 * replay. Counted here as the file-system requests made (async_hooks), not timed.
 */
import { createHook } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isFileSystemError } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** The bytes read and the file-system requests (FSREQCALLBACK, FSREQPROMISE, ...) made while reading `path`. */
async function countedRead(path: string): Promise<{ bytes: Uint8Array; requests: number }> {
  let requests = 0;
  const hook = createHook({
    init(_id, type) {
      if (type.startsWith('FSREQ')) requests++;
    },
  });
  hook.enable();
  try {
    const bytes = await new NodeFileSystem().readFile(path);
    return { bytes, requests };
  } finally {
    hook.disable();
  }
}

/** `sizeBytes` bytes that differ from offset to offset (a misplaced chunk shows). */
function patterned(sizeBytes: number): Buffer {
  const bytes = Buffer.alloc(sizeBytes);
  for (let offset = 0; offset + 4 <= sizeBytes; offset += 4) bytes.writeUInt32LE(offset, offset);
  return bytes;
}

describe('NodeFileSystem#readFile', () => {
  it('reads a 4 MiB file (a WAL segment) exactly, with one thread-pool request', async () => {
    const path = join(temporaryDirectory(), 'wal-0000000001.log');
    const expected = patterned(4 * 1024 * 1024);
    writeFileSync(path, expected);
    const { bytes, requests } = await countedRead(path);
    expect(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(expected)).toBe(true);
    // fs.promises.readFile made 10: 8 reads of 512 KiB, the open and the close.
    expect(requests).toBe(1);
  });

  it('returns a fresh array the caller owns for each call', async () => {
    const path = join(temporaryDirectory(), 'file');
    writeFileSync(path, patterned(4096));
    const fileSystem = new NodeFileSystem();
    const first = await fileSystem.readFile(path);
    first.fill(0);
    const second = await fileSystem.readFile(path);
    expect(Buffer.from(second).equals(patterned(4096))).toBe(true);
  });

  it('reads an empty file as no bytes', async () => {
    const path = join(temporaryDirectory(), 'empty');
    writeFileSync(path, Buffer.alloc(0));
    expect((await new NodeFileSystem().readFile(path)).length).toBe(0);
  });

  it('fails a missing file with ENOENT and a directory with EISDIR', async () => {
    const directory = temporaryDirectory();
    const missing = await new NodeFileSystem().readFile(join(directory, 'missing')).catch((error: unknown) => error);
    expect(isFileSystemError(missing, 'ENOENT'), String(missing)).toBe(true);
    const notFile = await new NodeFileSystem().readFile(directory).catch((error: unknown) => error);
    expect(isFileSystemError(notFile, 'EISDIR'), String(notFile)).toBe(true);
  });
});
