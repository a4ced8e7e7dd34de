/**
 * Issue 7 (killed reopen): the orphan runs a kill leaves (a flush's temporary file)
 * are removed beside the WAL replay, not before it (src/engine/open-engine.ts
 * deferRunOrphans, src/store/open-store.ts). Their unlinks and the fsync of runs/
 * took 26-98 ms of a killed 1M-key store's open on a busy machine, all before the
 * first segment was read. The open still waits for the removal before it returns
 * (nothing writes a run file before that), and a failed removal still fails it.
 * Checked without timing: the runs/ directory's fsync is held until the test lets it
 * go, and the test looks at what the open did meanwhile.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isLadybugError } from '../src/errors.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore } from '../src/store/store.js';
import { settled } from './helpers.js';
import { countedHandle, ForwardingFileSystem } from './support/file-system-wrappers.js';
import { scanAll, SMALL_SEGMENTS, STORE_DIR, WAL_DIR } from './workload.js';

const RUNS_DIR = `${STORE_DIR}/runs`;
const ORPHAN = `${RUNS_DIR}/0000000099.run.tmp`;
const KEYS = 60;

/** Holds the fsync of runs/ until released; counts the WAL segment reads made before the release and the handles left open. */
class HeldRunsSync extends ForwardingFileSystem {
  held = false;
  /** Segment reads started before the held fsync was released (the first segment's read may start before the removal reaches it). */
  segmentReadsBeforeRelease = 0;
  #released = false;
  openHandles = 0;
  #release: (() => void) | undefined;

  protected wrapHandle(handle: FileHandle): FileHandle {
    return countedHandle(handle, this);
  }

  /** Only the first fsync of runs/ (the orphan removal's) is held; the flushes' later ones are not. */
  #holds = 1;

  override syncDirectory(dir: string): Promise<void> {
    if (dir !== RUNS_DIR || this.#holds === 0) return this.inner.syncDirectory(dir);
    this.#holds--;
    this.held = true;
    return new Promise<void>((resolve) => {
      this.#release = () => resolve();
    }).then(() => {
      this.held = false;
      return this.inner.syncDirectory(dir);
    });
  }

  override readFile(path: string): Promise<Uint8Array> {
    if (!this.#released && path.startsWith(`${WAL_DIR}/wal-`)) this.segmentReadsBeforeRelease++;
    return this.inner.readFile(path);
  }

  release(): void {
    this.#released = true;
    this.#release?.();
  }
}

/** A store killed with KEYS puts in its WAL and a flush's temporary file left in runs/: the machine image after the kill. */
async function killedStoreWithOrphan(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
  for (let index = 0; index < KEYS; index++) await store.put(`k${String(index).padStart(3, '0')}`, { index, pad: 'p'.repeat(200) });
  store[abandonStore]();
  const image = fileSystem.crash('keep-all');
  const handle = await image.open(ORPHAN, 'createExclusive');
  await handle.write(Buffer.from('a flush the kill cut short'), 0);
  await handle.close();
  await image.syncDirectory(RUNS_DIR);
  return image;
}

function open(fileSystem: FileSystem) {
  return openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS });
}

/** Macrotask turns until `done()` holds, at most `turns` (the file systems here settle every call as microtasks). */
async function turnsUntil(done: () => boolean, turns = 100): Promise<void> {
  for (let turn = 0; turn < turns && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('a killed reopen removes the orphan runs beside the replay', () => {
  it('reads the WAL while the removal\'s fsync of runs/ is held, and returns only after it', async () => {
    const fileSystem = new HeldRunsSync(await killedStoreWithOrphan(1));
    const opening = open(fileSystem);
    const state = settled(opening);
    try {
      await turnsUntil(() => fileSystem.held && fileSystem.segmentReadsBeforeRelease > 0);
      expect(fileSystem.held, 'the orphan removal reached its directory fsync').toBe(true);
      expect(fileSystem.segmentReadsBeforeRelease, 'WAL segments read before the fsync of runs/ was released').toBeGreaterThan(0);
      await turnsUntil(() => state.done, 20);
      expect(state.done, 'the open waits for the removal').toBe(false);
    } finally {
      fileSystem.release();
    }
    const store = await opening;
    try {
      expect(store.stats().recovery.commits).toBe(KEYS);
      expect(store.stats().recovery.removedOrphans).toContain(ORPHAN);
      expect(fileSystem.inner instanceof FaultFileSystem && fileSystem.inner.listPaths()).not.toContain(ORPHAN);
      expect((await scanAll(store)).size).toBe(KEYS);
    } finally {
      await store.close();
    }
  });

  it('a failed unlink of the orphan fails the open typed after the replay, leaves no handle open, and the next open removes it', async () => {
    const image = await killedStoreWithOrphan(2);
    const fault = image.injectFault({ operation: 'unlink', error: 'EIO', path: ORPHAN });
    const fileSystem = new HeldRunsSync(image);
    const error = await open(fileSystem).catch((caught: unknown) => caught);
    expect(isLadybugError(error) && error.code === ErrorCode.Io, `open failed with ${String(error)}`).toBe(true);
    expect(fileSystem.openHandles).toBe(0);
    fault.remove();
    const store = await open(image);
    try {
      expect(store.stats().recovery.removedOrphans).toContain(ORPHAN);
      expect(image.listPaths()).not.toContain(ORPHAN);
      expect((await scanAll(store)).size).toBe(KEYS);
    } finally {
      await store.close();
    }
  });
});
