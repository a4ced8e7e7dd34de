/**
 * Issue 7 (killed reopen): the read of the WAL's first segment starts once the
 * manifest names it (src/engine/open-engine.ts firstSegmentRead), not after the
 * removal of the segments below the start and the storage engine's construction:
 * replay's first wait was 2.6-4.6 ms of a killed 1M-key store's open, after all of
 * those. The removal touches only segments below the start, so the read cannot see
 * it; the open still finishes the removal before it returns. Checked without timing:
 * the removal of a leftover segment below the start is held until the test lets it
 * go, and the test looks at what the open read meanwhile.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore } from '../src/store/store.js';
import { listSegments, segmentFileName } from '../src/wal/segment-files.js';
import { settled } from './helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { SMALL_SEGMENTS, STORE_DIR, WAL_DIR } from './workload.js';

const KEYS = 40;

/** Holds the removal (rename into the pool, or unlink) of `below` until released; notes a read of `first` before the release. */
class HeldRemovalBelow extends ForwardingFileSystem {
  held = false;
  firstReadBeforeRelease = false;
  #release: (() => void) | undefined;
  #released = false;

  constructor(inner: FaultFileSystem, readonly below: string, readonly first: string) {
    super(inner);
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  #hold<Result>(path: string, operation: () => Promise<Result>): Promise<Result> {
    if (path !== this.below || this.#release !== undefined) return operation();
    this.held = true;
    return new Promise<void>((resolve) => {
      this.#release = resolve;
    }).then(() => {
      this.held = false;
      return operation();
    });
  }

  override rename(from: string, to: string): Promise<void> {
    return this.#hold(from, () => this.inner.rename(from, to));
  }

  override unlink(path: string): Promise<void> {
    return this.#hold(path, () => this.inner.unlink(path));
  }

  override readFile(path: string): Promise<Uint8Array> {
    if (!this.#released && path === this.first) this.firstReadBeforeRelease = true;
    return this.inner.readFile(path);
  }

  release(): void {
    this.#released = true;
    this.#release?.();
  }
}

/** A store killed after a checkpoint and KEYS more puts, with a segment below the WAL start left behind (a checkpoint's deletion cut short). */
async function killedStoreWithSegmentBelow(seed: number): Promise<{ image: FaultFileSystem; below: string; first: string }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
  for (let index = 0; index < KEYS; index++) await store.put(`a${String(index).padStart(3, '0')}`, { index, pad: 'p'.repeat(200) });
  await store.checkpoint();
  for (let index = 0; index < KEYS; index++) await store.put(`b${String(index).padStart(3, '0')}`, { index, pad: 'q'.repeat(200) });
  store[abandonStore]();
  const image = fileSystem.crash('keep-all');
  const start = Math.min(...(await listSegments(image, WAL_DIR)));
  expect(start, 'the checkpoint moved the WAL start past segment 1').toBeGreaterThan(1);
  const below = `${WAL_DIR}/${segmentFileName(start - 1)}`;
  const handle = await image.open(below, 'createExclusive');
  await handle.write(Buffer.alloc(4096, 7), 0);
  await handle.close();
  await image.syncDirectory(WAL_DIR);
  return { image, below, first: `${WAL_DIR}/${segmentFileName(start)}` };
}

/** Macrotask turns until `done()` holds, at most `turns` (the fault file system settles every call as microtasks). */
async function turnsUntil(done: () => boolean, turns = 100): Promise<void> {
  for (let turn = 0; turn < turns && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('a killed reopen reads the first WAL segment as soon as the manifest names it', () => {
  it('reads it before the removal of a segment below the start ends, and returns only after that removal', async () => {
    const { image, below, first } = await killedStoreWithSegmentBelow(1);
    const fileSystem = new HeldRemovalBelow(image, below, first);
    const opening = openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
    const state = settled(opening);
    try {
      await turnsUntil(() => fileSystem.held && fileSystem.firstReadBeforeRelease);
      expect(fileSystem.held, 'the removal below the start reached the leftover segment').toBe(true);
      expect(fileSystem.firstReadBeforeRelease, 'the first segment read before that removal was let go').toBe(true);
      await turnsUntil(() => state.done, 20);
      expect(state.done, 'the open waits for the removal').toBe(false);
    } finally {
      fileSystem.release();
    }
    const store = await opening;
    try {
      expect(await image.exists(below), 'the leftover segment is gone').toBe(false);
      expect(store.stats().recovery.removedOrphans).toContain(below);
      for (let index = 0; index < KEYS; index++) {
        expect(await store.get(`a${String(index).padStart(3, '0')}`)).toEqual({ index, pad: 'p'.repeat(200) });
        expect(await store.get(`b${String(index).padStart(3, '0')}`)).toEqual({ index, pad: 'q'.repeat(200) });
      }
    } finally {
      await store.close();
    }
  });
});
