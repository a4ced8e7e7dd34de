/**
 * Issue 7 (killed reopen): recovery's I/O around the replay (src/wal/wal-recovery.ts).
 * - The next segment is read while the current one replays: a multi-segment log
 *   replays whole; a failed read of a later segment fails the open (typed, nothing
 *   changed); a replay that throws leaves no read in flight when the open fails.
 * - The rewrite of the last data segment and the resume segment's syncs run
 *   concurrently: if either fails the open fails, no handle is left open, and the
 *   store opens with every commit once the fault is gone.
 * - The three directory syncs before the lock (WAL, store, parent) run concurrently:
 *   a failed one fails the open, typed, after every one was attempted.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError, ErrorCode, isLadybugError } from '../src/errors.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore } from '../src/store/store.js';
import { encodeRecord, OPERATION_PUT, RECORD_HEADER_BYTES } from '../src/wal/wal-format.js';
import { countedHandle, ForwardingFileSystem } from './support/file-system-wrappers.js';
import { scanAll, segmentPath, SMALL_SEGMENTS, STORE_DIR, WAL_DIR } from './workload.js';

/** Counts segment reads in flight and handles left open. */
class CountingFileSystem extends ForwardingFileSystem {
  readsInFlight = 0;
  segmentReads = 0;
  openHandles = 0;

  protected wrapHandle(handle: FileHandle): FileHandle {
    return countedHandle(handle, this);
  }

  readonly syncedDirectories: string[] = [];

  override syncDirectory(dir: string): Promise<void> {
    this.syncedDirectories.push(dir);
    return this.inner.syncDirectory(dir);
  }

  override async readFile(path: string): Promise<Uint8Array> {
    if (!path.startsWith(`${WAL_DIR}/`)) return this.inner.readFile(path);
    this.readsInFlight++;
    this.segmentReads++;
    try {
      return await this.inner.readFile(path);
    } finally {
      this.readsInFlight--;
    }
  }
}

const KEYS = 120;

/** A store killed with KEYS puts in its WAL, over several 16 KiB segments: the machine image after the kill. */
async function killedStore(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
  for (let index = 0; index < KEYS; index++) await store.put(`k${String(index).padStart(3, '0')}`, { index, pad: 'p'.repeat(200) });
  store[abandonStore]();
  const image = fileSystem.crash('keep-all');
  expect(image.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/wal-`)).length).toBeGreaterThanOrEqual(3);
  return image;
}

function open(fileSystem: FileSystem) {
  return openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
}

async function expectAllKeys(fileSystem: FileSystem): Promise<void> {
  const store = await open(fileSystem);
  try {
    const found = await scanAll(store);
    expect(found.size).toBe(KEYS);
    expect(found.get('k119')).toEqual({ index: 119, pad: 'p'.repeat(200) });
  } finally {
    await store.close();
  }
}

/** Overwrites durable bytes of `path` at `offset` (flipBit is the fault file system's only way to damage). */
function overwrite(fileSystem: FaultFileSystem, path: string, offset: number, bytes: Uint8Array): void {
  const image = fileSystem.durableContent(path)!;
  bytes.forEach((byte, index) => {
    const difference = image[offset + index]! ^ byte;
    for (let bit = 0; bit < 8; bit++) if ((difference >> bit) & 1) fileSystem.flipBit(path, offset + index, bit);
  });
}

describe('segment reads overlapping the replay', () => {
  it('replay a multi-segment log whole, each segment read once', async () => {
    const counting = new CountingFileSystem(await killedStore(1));
    const store = await open(counting);
    expect(store.stats().recovery.commits).toBe(KEYS);
    expect(counting.readsInFlight).toBe(0);
    await store.close();
    await expectAllKeys(counting);
  });

  it('a failed read of a later segment fails the open with a typed error, and changes nothing', async () => {
    const fileSystem = await killedStore(2);
    fileSystem.injectFault({ operation: 'readFile', error: 'EIO', path: segmentPath(2) });
    const error = await open(fileSystem).catch((caught: unknown) => caught);
    expect(isLadybugError(error) && error.code === ErrorCode.Io, `open failed with ${String(error)}`).toBe(true);
    await expectAllKeys(fileSystem);
  });

  it('a checksum-valid record that cannot be applied fails the open with no read left in flight', async () => {
    const fileSystem = await killedStore(3);
    // The first record of segment 1 becomes one whose value msgpack cannot unpack, checksum valid.
    const hash = await loadHash64();
    const image = fileSystem.durableContent(segmentPath(1))!;
    const firstLength = RECORD_HEADER_BYTES + Buffer.from(image).readUInt32LE(64 + 12);
    const record = Buffer.alloc(firstLength);
    const value = Uint8Array.from([0x92, 0x01, ...new Array<number>(firstLength - RECORD_HEADER_BYTES - 8 - 7 - 3 - 2).fill(0xc0)]);
    const operations = [{ type: OPERATION_PUT, key: Buffer.from('bad'), value }] as const;
    expect(encodeRecord([{ version: 1, operations, sizeBytes: 8 + 7 + 3 + value.length }], record, 0, hash)).toBe(firstLength);
    overwrite(fileSystem, segmentPath(1), 64, record);
    const counting = new CountingFileSystem(fileSystem);
    const error = await open(counting).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(counting.segmentReads, 'the next segment was being read').toBeGreaterThanOrEqual(2);
    expect(counting.readsInFlight).toBe(0);
    expect(counting.openHandles).toBe(0);
  });
});

describe('the rewrite and the resume syncs, concurrently', () => {
  for (const operation of ['datasync', 'sync'] as const) {
    it(`a failed ${operation} fails the open, leaves no handle open, and the store opens once the fault is gone`, async () => {
      const fileSystem = await killedStore(operation === 'datasync' ? 4 : 5);
      fileSystem.injectFault({ operation, error: 'EIO', path: /\/db\/wal\/wal-/ });
      const counting = new CountingFileSystem(fileSystem);
      const error = await open(counting).catch((caught: unknown) => caught);
      expect(isLadybugError(error), `open failed with ${String(error)}`).toBe(true);
      expect(counting.openHandles).toBe(0);
      await expectAllKeys(fileSystem);
    });
  }
});

describe('the directory syncs before the lock', () => {
  it('a failed one fails the open, typed, after all three were attempted; the store opens once the fault is gone', async () => {
    const fileSystem = await killedStore(6);
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: STORE_DIR });
    const counting = new CountingFileSystem(fileSystem);
    const error = await open(counting).catch((caught: unknown) => caught);
    expect(isLadybugError(error) && error.code === ErrorCode.Io, `open failed with ${String(error)}`).toBe(true);
    expect(new Set(counting.syncedDirectories)).toEqual(new Set([WAL_DIR, STORE_DIR, '/']));
    await expectAllKeys(fileSystem);
  });
});

describe('leftovers removed at open, both directories concurrently', () => {
  it('an orphan run and a WAL segment below the start are both removed; a failed unlink fails the open typed, and the next open removes them', async () => {
    const fileSystem = new FaultFileSystem(7);
    const store = await openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
    for (let index = 0; index < 40; index++) await store.put(`k${index}`, 'v'.repeat(400));
    await store.checkpoint();
    await store.close();
    const segments = fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/wal-`)).sort();
    const first = Number(segments[0]!.slice(`${WAL_DIR}/wal-`.length, -'.log'.length));
    expect(first, 'the checkpoint moved the WAL start past segment 1').toBeGreaterThan(1);
    // Leftovers a crash could leave: a segment below the start, a run file no manifest lists.
    for (const path of [segmentPath(first - 1), `${STORE_DIR}/runs/9999999999.run.tmp`]) {
      const handle = await fileSystem.open(path, 'createExclusive');
      await handle.write(Buffer.from('leftover'), 0);
      await handle.close();
    }
    const fault = fileSystem.injectFault({ operation: 'unlink', error: 'EIO', path: `${STORE_DIR}/runs/9999999999.run.tmp` });
    const error = await open(fileSystem).catch((caught: unknown) => caught);
    expect(isLadybugError(error) && error.code === ErrorCode.Io, `open failed with ${String(error)}`).toBe(true);
    fault.remove();
    const reopened = await open(fileSystem);
    try {
      // The failed open may have removed the segment already (the two removals run concurrently).
      expect(reopened.stats().recovery.removedOrphans).toContain(`${STORE_DIR}/runs/9999999999.run.tmp`);
      const left = fileSystem.listPaths();
      expect(left).not.toContain(`${STORE_DIR}/runs/9999999999.run.tmp`);
      expect(left).not.toContain(segmentPath(first - 1));
      expect((await scanAll(reopened)).size).toBe(40);
    } finally {
      await reopened.close();
    }
  });
});
