/**
 * What a clean reopen waits on the disk for (issue 7: open + first get of a reopened
 * 10M-key store under 50 ms, reliably). Each fsync is a journal commit or a device cache
 * flush, which on a shared disk waits behind other processes' writes.
 *
 * - Taking the directory lock fsyncs neither the lock file nor the store directory
 *   (src/store/directory-lock.ts, header): the lock excludes running processes, which
 *   read the page cache; whatever a crash leaves of an acquisition reads as no live
 *   holder. Checked: no sync of a LOCK file, and a crash (every mode) right after a
 *   reopen, or at each call of one, leaves a store that opens with every commit. The
 *   temporary name's removal and the listing that confirms the generation overlap.
 * - With no segment below the manifest's WAL start, wal/ is not listed again for the
 *   recycled pool (each listing is a thread-pool round trip, a wait on a busy machine).
 * - The fsyncs of the existing store, WAL and parent directories run beside the rest
 *   of the open: the lock is taken and the manifest read while they are in flight,
 *   and the open returns only once they are done; a failed one fails the open, which
 *   releases the lock.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem, isSimulatedCrash, type CrashMode } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { ErrorCode } from '../src/errors.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { closedStore } from './support/closed-store.js';
import { openOn, scanAll, STORE_DIR } from './workload.js';

const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

/** The simulated crash, as the open reports it (typed, the crash as its cause). */
function crashed(error: unknown): boolean {
  return isSimulatedCrash(error) || (error instanceof Error && isSimulatedCrash(error.cause));
}


/** Every path-level call and every handle sync, in order; syncDirectory calls can be held until released. */
class RecordingFileSystem extends ForwardingFileSystem {
  readonly calls: string[] = [];
  #held: (() => void)[] | undefined;

  /** From now on, syncDirectory waits (after the real one) until releaseSyncs(). */
  holdSyncs(): void {
    this.#held = [];
  }
  releaseSyncs(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const release of held) release();
  }
  /** The directories whose syncDirectory is being held. */
  readonly heldPaths: string[] = [];

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      sync: () => { this.calls.push(`sync ${path}`); return handle.sync(); },
      datasync: (mayBlock) => { this.calls.push(`datasync ${path}`); return handle.datasync(mayBlock); },
    });
  }
  /** While set, the unlink of a lock's temporary name waits (after the real one) until this is called. */
  releaseTemporaryUnlink: (() => void) | undefined;
  holdTemporaryUnlink = false;

  override readdir(dir: string) { this.calls.push(`readdir ${dir}`); return super.readdir(dir); }
  override async unlink(path: string): Promise<void> {
    await super.unlink(path);
    if (this.holdTemporaryUnlink && path.includes('/LOCK.tmp-')) {
      this.calls.push(`unlink held ${path}`);
      await new Promise<void>((resolve) => { this.releaseTemporaryUnlink = resolve; });
    }
    this.calls.push(`unlink ${path}`);
  }
  override link(existingPath: string, newPath: string) { this.calls.push(`link ${newPath}`); return super.link(existingPath, newPath); }
  override async syncDirectory(dir: string): Promise<void> {
    this.calls.push(`syncDirectory ${dir}`);
    await super.syncDirectory(dir);
    const held = this.#held;
    if (held !== undefined) {
      this.heldPaths.push(dir);
      await new Promise<void>((resolve) => held.push(resolve));
    }
    this.calls.push(`syncDirectory done ${dir}`);
  }
}

describe('a clean reopen does not wait for the disk on the lock', () => {
  it('links its lock generation without a sync of the lock file or of the store directory', async () => {
    const { fileSystem: inner } = await closedStore(1, 20);
    const fileSystem = new RecordingFileSystem(inner);
    const store = await openOn(fileSystem as unknown as FaultFileSystem);
    try {
      const lockSyncs = fileSystem.calls.filter((call) => /^(sync|datasync) .*\/LOCK/.test(call));
      expect(lockSyncs).toEqual([]);
      expect(fileSystem.calls).toContain(`link ${STORE_DIR}/LOCK.000000000002`);
      // The store directory is synced once (the open's check that an earlier open's mkdir is durable), not again by the lock.
      expect(fileSystem.calls.filter((call) => call === `syncDirectory ${STORE_DIR}`)).toHaveLength(1);
      // wal/ is listed once (open-engine.ts: the segments below the start and recovery's take the same listing),
      // not again for a recycled pool nothing below joins.
      expect(fileSystem.calls.filter((call) => call === `readdir ${STORE_DIR}/wal`)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('lists the generations while the temporary name is being removed', async () => {
    const { fileSystem: inner, expected } = await closedStore(6, 10);
    const fileSystem = new RecordingFileSystem(inner);
    fileSystem.holdTemporaryUnlink = true;
    const opening = openOn(fileSystem as unknown as FaultFileSystem);
    const listings = (): number => fileSystem.calls.filter((call) => call === `readdir ${STORE_DIR}`).length;
    for (let turn = 0; turn < 1000 && listings() < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    // The check after linking (the second listing) ran with the temporary's unlink still held.
    expect(listings()).toBe(2);
    expect(fileSystem.calls.some((call) => call.startsWith(`unlink ${STORE_DIR}/LOCK.tmp-`))).toBe(false);
    fileSystem.releaseTemporaryUnlink?.();
    const store = await opening;
    try {
      expect(fileSystem.calls.some((call) => call.startsWith(`unlink ${STORE_DIR}/LOCK.tmp-`))).toBe(true);
      expect(await scanAll(store)).toEqual(expected);
    } finally {
      await store.close();
    }
  });

  for (const mode of MODES) {
    it(`a crash (${mode}) right after a reopen leaves a store that opens with every commit`, async () => {
      const { fileSystem, expected } = await closedStore(2, 30);
      const reopened = await openOn(fileSystem);
      reopened[abandonStore]();
      const crashed = fileSystem.crash(mode);
      const store = await openOn(crashed);
      try {
        expect(await scanAll(store)).toEqual(expected);
      } finally {
        await store.close();
      }
      // The lock generations left behind never stop an open.
      const again = await openOn(crashed);
      await again.close();
    });
  }

  it('a crash at each call of a reopen, in every mode, leaves a store that opens with every commit', async () => {
    const probe = await closedStore(3, 30);
    const before = probe.fileSystem.operationCount;
    (await openOn(probe.fileSystem))[abandonStore]();
    const openCalls = probe.fileSystem.operationCount - before;
    expect(openCalls).toBeGreaterThan(10);
    for (let calls = 0; calls <= openCalls; calls++) {
      for (const mode of MODES) {
        const { fileSystem, expected } = await closedStore(3, 30);
        fileSystem.crashAfterOperations(calls);
        try {
          (await openOn(fileSystem))[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
        }
        const store = await openOn(fileSystem.crash(mode));
        try {
          expect(await scanAll(store), `crash after ${calls} calls, ${mode}`).toEqual(expected);
        } finally {
          await store.close();
        }
      }
    }
  });
});

describe("the directories' fsyncs run beside the open", () => {
  it('takes the lock and reads the manifest while they are in flight, and returns only once they are done', async () => {
    const { fileSystem: inner, expected } = await closedStore(4, 20);
    const fileSystem = new RecordingFileSystem(inner);
    fileSystem.holdSyncs();
    let returned = false;
    const opening = openOn(fileSystem as unknown as FaultFileSystem).then((store) => {
      returned = true;
      return store;
    });
    // Wait until the open has listed the manifest directory: it got past the lock with the syncs held.
    for (let turn = 0; turn < 1000 && !fileSystem.calls.includes(`readdir ${STORE_DIR}/manifest`); turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(fileSystem.calls).toContain(`readdir ${STORE_DIR}/manifest`);
    expect(fileSystem.calls).toContain(`link ${STORE_DIR}/LOCK.000000000002`);
    // The three directory syncs of the open's start, all still held (the WAL's resume may have added its own).
    expect(fileSystem.heldPaths.slice(0, 3).sort()).toEqual(['/', STORE_DIR, `${STORE_DIR}/wal`].sort());
    expect(fileSystem.calls.filter((call) => call.startsWith('syncDirectory done '))).toEqual([]);
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(returned).toBe(false);
    fileSystem.releaseSyncs();
    const store = await opening;
    try {
      const done = fileSystem.calls.filter((call) => call.startsWith('syncDirectory done '));
      for (const dir of ['/', STORE_DIR, `${STORE_DIR}/wal`]) expect(done).toContain(`syncDirectory done ${dir}`);
      expect(await scanAll(store)).toEqual(expected);
    } finally {
      await store.close();
    }
  });

  it('a failed directory fsync fails the open, which releases the lock', async () => {
    const { fileSystem, expected } = await closedStore(5, 20);
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO', path: `${STORE_DIR}/wal` });
    const error = await openOn(fileSystem).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: ErrorCode.Io });
    const store = await openOn(fileSystem);
    try {
      expect(await scanAll(store)).toEqual(expected);
    } finally {
      await store.close();
    }
  });
});
