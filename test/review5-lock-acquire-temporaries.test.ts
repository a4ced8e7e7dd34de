/**
 * The directory lock's acquisition temporaries (`LOCK.tmp-<token>-<generation>`,
 * src/store/directory-lock.ts). An opener writes its body under that name, links it as
 * its generation and removes the name; one killed in between left the name behind for
 * good (the holder removed only heartbeat and release temporaries). The next holder now
 * removes those of its own generation or a lower one. That must never break a live
 * opener racing for the lock: one whose temporary is removed before its link starts
 * over and is refused by the holder (StoreLockedError), as when its link finds the name
 * taken.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, isSimulatedCrash, type CrashMode } from '../src/fs/fault-file-system.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { StoreLockedError } from '../src/errors.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import type { FileHandle } from '../src/fs/file-system.js';

const DIR = '/db';
const TEMPORARY = /^LOCK\.tmp-[0-9a-f]+-(\d+)$/;
const LOCK = /^LOCK\.(\d{12})$/;

async function directoryWithLock(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(DIR);
  await fileSystem.syncDirectory('/');
  const lock = await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false });
  await lock.release(); // durable: LOCK.000000000001, released
  return fileSystem;
}

async function acquisitionTemporaries(fileSystem: FaultFileSystem): Promise<number[]> {
  return (await fileSystem.readdir(DIR)).flatMap((name) => {
    const match = TEMPORARY.exec(name);
    return match ? [Number(match[1])] : [];
  });
}

async function newestGeneration(fileSystem: FaultFileSystem): Promise<number> {
  return Math.max(0, ...(await fileSystem.readdir(DIR)).flatMap((name) => {
    const match = LOCK.exec(name);
    return match ? [Number(match[1])] : [];
  }));
}

/** The number of file-system calls one acquisition makes on a directory like directoryWithLock's. */
async function acquireCalls(): Promise<number> {
  const fileSystem = await directoryWithLock(1);
  const before = fileSystem.operationCount;
  (await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false })).abandon();
  return fileSystem.operationCount - before;
}

describe('an acquisition temporary left by a killed opener', () => {
  it('is removed by the next holder (process killed at each call of an acquisition)', async () => {
    const calls = await acquireCalls();
    let leftBehind = 0;
    for (let crashAfter = 0; crashAfter < calls; crashAfter++) {
      const fileSystem = await directoryWithLock(2);
      fileSystem.crashAfterOperations(crashAfter);
      const error = await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false }).then((lock) => lock.abandon(), (caught: unknown) => caught);
      const after = fileSystem.crash('keep-all');
      if ((await acquisitionTemporaries(after)).length > 0) leftBehind++;
      expect(error === undefined || isSimulatedCrash(error), `crash after ${crashAfter} calls`).toBe(true);
      const lock = await DirectoryLock.acquire(after, DIR, { heartbeat: false });
      expect(await acquisitionTemporaries(after), `crash after ${crashAfter} calls`).toEqual([]);
      await lock.release();
    }
    expect(leftBehind).toBeGreaterThan(0); // the sweep did kill openers between the temporary's write and its removal
  });

  it('is removed by ladybug unlock --force', async () => {
    // The first call at which a killed opener leaves its temporary behind and its generation
    // linked (a dead holder: unlock takes it over; with the released one newest, it does nothing).
    let after: FaultFileSystem | undefined;
    for (let crashAfter = 0; after === undefined; crashAfter++) {
      const fileSystem = await directoryWithLock(3);
      fileSystem.crashAfterOperations(crashAfter);
      await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false }).then((lock) => lock.abandon(), (error: unknown) => {
        if (!isSimulatedCrash(error)) throw error;
      });
      const image = fileSystem.crash('keep-all');
      if ((await acquisitionTemporaries(image)).length > 0 && (await newestGeneration(image)) === 2) after = image;
    }
    const result = await DirectoryLock.unlock(after, DIR);
    expect(result.releasedGeneration).toBe(3);
    expect(await acquisitionTemporaries(after)).toEqual([]);
  });

  const modes: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
  for (const mode of modes) {
    it(`after a power loss (${mode}) at each call, the next holder leaves none at or below its generation`, async () => {
      const calls = await acquireCalls();
      for (let crashAfter = 0; crashAfter <= calls; crashAfter++) {
        const fileSystem = await directoryWithLock(4 + crashAfter);
        fileSystem.crashAfterOperations(crashAfter);
        await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false }).then((lock) => lock.abandon(), (error: unknown) => {
          if (!isSimulatedCrash(error)) throw error;
        });
        const after = fileSystem.crash(mode);
        const lock = await DirectoryLock.acquire(after, DIR, { heartbeat: false });
        const generation = await newestGeneration(after);
        expect((await acquisitionTemporaries(after)).filter((temporary) => temporary <= generation), `${mode}, crash after ${crashAfter}`).toEqual([]);
        await lock.release();
      }
    });
  }
});

/** Forwards to the shared file system; while `holdLink` is set, link waits until `releaseLink()`. */
class HeldLinkFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  holdLink = false;
  linkReached: Promise<void>;
  #reached!: () => void;
  #release: (() => void) | undefined;

  constructor(inner: FaultFileSystem) {
    super(inner);
    this.linkReached = new Promise((resolve) => { this.#reached = resolve; });
  }
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override async link(existingPath: string, newPath: string): Promise<void> {
    if (this.holdLink) {
      this.holdLink = false;
      this.#reached();
      await new Promise<void>((resolve) => { this.#release = resolve; });
    }
    return super.link(existingPath, newPath);
  }
  releaseLink(): void {
    this.#release?.();
  }
}

describe('a live opener racing the holder', () => {
  it('whose temporary the holder removed before its link starts over and is refused by the holder', async () => {
    const shared = await directoryWithLock(9);
    const slow = new HeldLinkFileSystem(shared);
    slow.holdLink = true;
    // The slow opener reads generation 1 (released), writes its temporary for 2 and waits at its link.
    const slowAcquire = DirectoryLock.acquire(slow, DIR, { heartbeat: false }).then(
      (lock) => ({ lock, error: undefined }),
      (error: unknown) => ({ lock: undefined, error }),
    );
    await slow.linkReached;
    expect(await acquisitionTemporaries(shared)).toEqual([2]);
    // The fast one takes generation 2; its check of the generations removes the slow one's temporary.
    const holder = await DirectoryLock.acquire(shared, DIR, { heartbeat: false });
    expect(await newestGeneration(shared)).toBe(2);
    expect(await acquisitionTemporaries(shared)).toEqual([]);
    slow.releaseLink();
    const outcome = await slowAcquire;
    expect(outcome.lock).toBeUndefined();
    expect(outcome.error).toBeInstanceOf(StoreLockedError);
    expect(await acquisitionTemporaries(shared)).toEqual([]);
    expect(await newestGeneration(shared)).toBe(2);
    await holder.release();
    // The store is free again: the next opener takes generation 3.
    const next = await DirectoryLock.acquire(shared, DIR, { heartbeat: false });
    expect(await newestGeneration(shared)).toBe(3);
    await next.release();
  });
});

describe('after a power loss at any call of an acquisition', () => {
  const modes: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
  it('exactly one of the openers that come after holds the lock, at the newest generation', async () => {
    const calls = await acquireCalls();
    for (const mode of modes) {
      for (let crashAfter = 0; crashAfter <= calls; crashAfter++) {
        const fileSystem = await directoryWithLock(20 + crashAfter);
        fileSystem.crashAfterOperations(crashAfter);
        await DirectoryLock.acquire(fileSystem, DIR, { heartbeat: false }).then((lock) => lock.abandon(), (error: unknown) => {
          if (!isSimulatedCrash(error)) throw error;
        });
        const after = fileSystem.crash(mode);
        const holder = await DirectoryLock.acquire(after, DIR, { heartbeat: false });
        expect(holder.path, `${mode}, crash after ${crashAfter}`).toBe(`${DIR}/LOCK.${String(await newestGeneration(after)).padStart(12, '0')}`);
        await expect(DirectoryLock.acquire(after, DIR, { heartbeat: false })).rejects.toBeInstanceOf(StoreLockedError);
        await holder.release();
        const next = await DirectoryLock.acquire(after, DIR, { heartbeat: false });
        await next.release();
      }
    }
  });
});
