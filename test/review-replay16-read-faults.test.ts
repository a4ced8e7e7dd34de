/**
 * Review (issue 7: 6c64a98, the next segment read while the current one replays):
 * an EIO reading any segment (first or repeated read, so the read ahead or a re-read
 * takes it) and a bit flipped in any segment's records. The open either has every
 * acknowledged commit exactly or fails typed (IoError, CorruptionError) with no
 * handle left open and nothing of the log changed; once the fault is gone (the bit
 * flipped back), the next open has every commit, under shuffled completion order too.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isLadybugError } from '../src/errors.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore } from '../src/store/store.js';
import { countedHandle, ForwardingFileSystem } from './support/file-system-wrappers.js';
import { openOn, scanAll, segmentPath, SMALL_SEGMENTS, STORE_DIR } from './workload.js';

class HandleCountingFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  openHandles = 0;

  protected wrapHandle(handle: FileHandle): FileHandle {
    return countedHandle(handle, this);
  }
}

async function killedStore(): Promise<{ fileSystem: FaultFileSystem; expected: Map<string, string>; segments: number }> {
  const first = new FaultFileSystem(3);
  const store = await openOn(first);
  const expected = new Map<string, string>();
  for (let index = 0; index < 40; index++) {
    const value = `${index}-${'ü'.repeat(700)}`;
    await store.put(`k${index % 13}`, value);
    expected.set(`k${index % 13}`, value);
  }
  store[abandonStore]();
  const fileSystem = first.crash('keep-all');
  let segments = 0;
  while (await fileSystem.exists(segmentPath(segments + 1))) segments++;
  expect(segments).toBeGreaterThanOrEqual(4);
  return { fileSystem, expected, segments };
}

async function walImage(fileSystem: FaultFileSystem): Promise<Map<string, string>> {
  const image = new Map<string, string>();
  for (const name of (await fileSystem.readdir('/db/wal')).sort()) {
    image.set(name, Buffer.from(await fileSystem.readFile(`/db/wal/${name}`)).toString('base64'));
  }
  return image;
}

async function expectOpenExactOrTyped(fileSystem: FaultFileSystem, expected: Map<string, string>, codes: string[]): Promise<boolean> {
  const counting = new HandleCountingFileSystem(fileSystem);
  try {
    const store = await openStore(STORE_DIR, { fileSystem: counting, ...SMALL_SEGMENTS, checkpointOnClose: false });
    try {
      expect(await scanAll(store)).toEqual(expected);
    } finally {
      await store.close();
    }
    return true;
  } catch (error) {
    if (!isLadybugError(error) || !codes.includes(error.code)) throw error;
    expect(counting.openHandles).toBe(0);
    return false;
  }
}

describe('review replay16: read faults and flipped bits while segments are read ahead', () => {
  it('an EIO on the first or second read of any segment fails the open typed or changes nothing', async () => {
    const { segments } = await killedStore();
    let failed = 0;
    for (let segment = 1; segment <= segments; segment++) {
      for (const nth of [1, 2]) {
        const { fileSystem, expected } = await killedStore();
        const before = await walImage(fileSystem);
        fileSystem.injectFault({ operation: 'readFile', error: 'EIO', path: segmentPath(segment), nth });
        if (!(await expectOpenExactOrTyped(fileSystem, expected, [ErrorCode.Io]))) {
          failed++;
          expect(await walImage(fileSystem)).toEqual(before);
        }
        fileSystem.clearFaults();
        expect(await expectOpenExactOrTyped(fileSystem, expected, [])).toBe(true);
      }
    }
    expect(failed).toBeGreaterThanOrEqual(segments);
  });

  it('an EIO on any of the first four calls of each kind the open makes fails it typed with no handle open, and the next open is whole', async () => {
    const kinds = ['open', 'readFile', 'read', 'write', 'datasync', 'sync', 'truncate', 'syncDirectory', 'unlink', 'readdir', 'mkdir', 'rename', 'link'] as const;
    let failed = 0;
    for (const operation of kinds) {
      for (const nth of [1, 2, 3, 4]) {
        const { fileSystem, expected } = await killedStore();
        fileSystem.injectFault({ operation, error: 'EIO', nth });
        if (!(await expectOpenExactOrTyped(fileSystem, expected, [ErrorCode.Io]))) failed++;
        fileSystem.clearFaults();
        expect(await expectOpenExactOrTyped(fileSystem, expected, [])).toBe(true);
        // And whatever that open made durable survives a power loss.
        expect(await expectOpenExactOrTyped(fileSystem.crash('drop-unsynced'), expected, [])).toBe(true);
      }
    }
    expect(failed).toBeGreaterThan(20);
  });

  it('a bit flipped in any segment\'s records fails the open as corruption, changes nothing, and flipped back opens whole', async () => {
    const { segments } = await killedStore();
    for (let segment = 1; segment <= segments; segment++) {
      for (const byteOffset of [64, 64 + 37, 5000]) {
        const { fileSystem, expected } = await killedStore();
        const path = segmentPath(segment);
        const image = await fileSystem.readFile(path);
        if (image[byteOffset] === 0 && image.subarray(byteOffset).every((byte) => byte === 0)) continue; // no record there
        fileSystem.flipBit(path, byteOffset, 3);
        const before = await walImage(fileSystem);
        expect(await expectOpenExactOrTyped(fileSystem, expected, [ErrorCode.Corruption])).toBe(false);
        expect(await walImage(fileSystem)).toEqual(before);
        fileSystem.flipBit(path, byteOffset, 3);
        expect(await expectOpenExactOrTyped(fileSystem, expected, [])).toBe(true);
      }
    }
  });
});
