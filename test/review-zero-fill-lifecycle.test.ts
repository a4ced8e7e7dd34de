/**
 * Review of the WAL zero fill ahead (9ada270, 9e2c842, 0951254): a background fill step
 * runs through its own handle of the active segment. When close() resolves, or a
 * checkpoint's or a seal's rotation resolves (after which the old segment may be deleted
 * by the checkpoint or the flush), no fill of the old segment may still touch the file:
 * no write, sync or open after that point (a late open of a deleted segment would fail
 * the writer, or recreate a file named as a segment).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { type FileHandle, type FileSystem, joinPath, type OpenMode } from '../src/fs/file-system.js';
import { createSegment, segmentFileName } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type Hash64, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const FIRST_SEGMENT_PATH = joinPath(WAL_DIR, segmentFileName(1));

/** Logs every open, write, datasync and sync with the path it concerns. */
class RecordingFileSystem extends ForwardingFileSystem {
  readonly log: string[] = [];

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    this.log.push(`open ${path}`);
    return this.wrapHandle(await this.inner.open(path, mode), path);
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      write: (data, position) => {
        this.log.push(`write ${path}`);
        return handle.write(data, position);
      },
      datasync: (mayBlock) => {
        this.log.push(`datasync ${path}`);
        return handle.datasync(mayBlock);
      },
      sync: () => {
        this.log.push(`sync ${path}`);
        return handle.sync();
      },
    });
  }
}

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function newWriter(fileSystem: FileSystem, hash: Hash64): Promise<WalWriter> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, 16 * MEBIBYTE, hash);
  return new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: 16 * MEBIBYTE }, { ...first, offset: SEGMENT_HEADER_BYTES });
}

/** A writer whose first record started a background fill step of its 16 MiB segment (only 4 MiB filled at creation). */
async function writerFilling() {
  const fileSystem = new RecordingFileSystem(new FaultFileSystem());
  const writer = await newWriter(fileSystem, await loadHash64());
  const before = fileSystem.log.length;
  await writer.writeGroup([commitOf(1, 4 * KIBIBYTE)]);
  // The fill opened its handle and is between its zero-fill chunks.
  expect(fileSystem.log.slice(before).filter((entry) => entry === `open ${FIRST_SEGMENT_PATH}`)).toHaveLength(1);
  return { fileSystem, writer };
}

describe('a background fill step and the end of its segment', () => {
  it('close() resolves only after the fill ended: no I/O on the segment after it', async () => {
    const { fileSystem, writer } = await writerFilling();
    await writer.close();
    const atClose = fileSystem.log.length;
    await turns(20);
    expect(fileSystem.log.slice(atClose)).toEqual([]);
    // The fill completed its step before close resolved: its datasync is in the log.
    expect(fileSystem.log.filter((entry) => entry === `datasync ${FIRST_SEGMENT_PATH}`).length).toBeGreaterThanOrEqual(2);
  });

  it('a checkpoint rotation resolves only after the fill ended: the old segment can be deleted at once', async () => {
    const { fileSystem, writer } = await writerFilling();
    expect(await writer.rotateForCheckpoint()).toBe(true);
    const atRotation = fileSystem.log.length;
    // What the checkpoint does next: delete the segments its runs cover.
    await fileSystem.unlink(FIRST_SEGMENT_PATH);
    await turns(20);
    expect(fileSystem.log.slice(atRotation).filter((entry) => entry.endsWith(FIRST_SEGMENT_PATH))).toEqual([]);
    // The writer goes on in the new segment.
    await writer.writeGroup([commitOf(2, 4 * KIBIBYTE)]);
    await writer.close();
    expect(await fileSystem.exists(FIRST_SEGMENT_PATH)).toBe(false);
  });

  it("a seal's cut rotation resolves only after the fill ended", async () => {
    const { fileSystem, writer } = await writerFilling();
    expect(writer.cutAtNextRecord()).toBe(2);
    await writer.rotateAtCut();
    const atRotation = fileSystem.log.length;
    await fileSystem.unlink(FIRST_SEGMENT_PATH);
    await turns(20);
    expect(fileSystem.log.slice(atRotation).filter((entry) => entry.endsWith(FIRST_SEGMENT_PATH))).toEqual([]);
    await writer.writeGroup([commitOf(2, 4 * KIBIBYTE)]);
    await writer.close();
  });
});
