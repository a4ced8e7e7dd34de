/**
 * Review of 49226d2 and 8b72200 (adaptive fdatasync placement): a WAL fdatasync that
 * fails with EIO must fail-stop the same way wherever it ran, inline on the main
 * thread (fs.fdatasyncSync) or on the thread pool (fs.fdatasync): the failed commit is
 * not applied (its outcome is unknown to the caller), later commits are refused, and
 * a reopen holds exactly the acknowledged data (the unknown commit present or absent,
 * nothing refused). Real NodeFileSystem in a temporary directory; the failure is
 * injected by replacing node:fs's fdatasync functions for the next WAL sync.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

type Mode = 'inline' | 'threadpool' | 'adaptive';

/** Descriptors of open WAL segments, learned from fs.openSync (NodeFileSystem opens with it). */
function trackWalDescriptors(): Set<number> {
  const descriptors = new Set<number>();
  const openSync = fs.openSync.bind(fs);
  vi.spyOn(fs, 'openSync').mockImplementation(((path: fs.PathLike, ...rest: unknown[]) => {
    const descriptor = (openSync as (...args: unknown[]) => number)(path, ...rest);
    if (String(path).includes('/wal/')) descriptors.add(descriptor);
    return descriptor;
  }) as typeof fs.openSync);
  return descriptors;
}

/** Makes the next fdatasync of a WAL descriptor fail with EIO, inline or on the thread pool; counts where it ran. */
function armWalSyncFailure(walDescriptors: Set<number>): { failedInline: number; failedThreadPool: number } {
  const failed = { failedInline: 0, failedThreadPool: 0 };
  let armed = true;
  const eio = () => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5, syscall: 'fdatasync' });
  const fdatasyncSync = fs.fdatasyncSync.bind(fs);
  const fdatasync = fs.fdatasync.bind(fs);
  vi.spyOn(fs, 'fdatasyncSync').mockImplementation((descriptor: number) => {
    if (armed && walDescriptors.has(descriptor)) {
      armed = false;
      failed.failedInline++;
      throw eio();
    }
    fdatasyncSync(descriptor);
  });
  vi.spyOn(fs, 'fdatasync').mockImplementation(((descriptor: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    if (armed && walDescriptors.has(descriptor)) {
      armed = false;
      failed.failedThreadPool++;
      setImmediate(() => callback(eio()));
      return;
    }
    fdatasync(descriptor, callback);
  }) as typeof fs.fdatasync);
  return failed;
}

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; code: unknown } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return { name: (error as Error).name, code: (error as { code?: unknown }).code };
  }
}

/**
 * Acknowledged sequential puts and a group, then the failing sync on a lone commit
 * (`lone`) or a group of 4, then a later put; reopen. Returns what the caller saw.
 */
async function scenario(mode: Mode, lone: boolean) {
  const directory = temporaryDirectory('ladybug-review-io-sync-');
  const walDescriptors = trackWalDescriptors();
  let store: Store = await openStore(directory, { syncMode: mode });
  const acknowledged = new Map<string, string>();
  for (let index = 0; index < 8; index++) {
    await store.put(`seq-${index}`, `v${index}`);
    acknowledged.set(`seq-${index}`, `v${index}`);
  }
  await Promise.all(Array.from({ length: 6 }, (_, index) => store.put(`group-${index}`, `g${index}`)));
  for (let index = 0; index < 6; index++) acknowledged.set(`group-${index}`, `g${index}`);
  await store.put('seq-last', 'last'); // a lone group before: the next lone commit may block
  acknowledged.set('seq-last', 'last');

  const failed = armWalSyncFailure(walDescriptors);
  const doomedKeys = lone ? ['doomed-0'] : ['doomed-0', 'doomed-1', 'doomed-2', 'doomed-3'];
  const doomedErrors = await Promise.all(doomedKeys.map((key) => errorOf(store.put(key, 'never acknowledged'))));
  const laterError = await errorOf(store.put('later', 'refused'));
  const failedState = { failed: { ...failed }, doomedErrors, laterError };
  await store.close().catch(() => undefined);
  vi.restoreAllMocks();

  store = await openStore(directory, { syncMode: mode });
  try {
    for (const [key, value] of acknowledged) expect(await store.get(key), key).toBe(value);
    expect(await store.get('later')).toBeUndefined();
    for (const key of doomedKeys) expect([undefined, 'never acknowledged']).toContain(await store.get(key));
    const keys: string[] = [];
    for await (const [key] of store.scan({})) keys.push(key as string);
    expect(keys.filter((key) => !acknowledged.has(key) && !doomedKeys.includes(key))).toEqual([]);
    await store.put('after-reopen', 'ok');
    expect(await store.get('after-reopen')).toBe('ok');
  } finally {
    await store.close();
  }
  return failedState;
}

describe('a failed WAL fdatasync fail-stops alike inline and on the thread pool', () => {
  for (const lone of [true, false]) {
    it(`${lone ? 'a lone commit' : 'a group of 4'}: same errors in every syncMode, later commits refused, reopen exact`, async () => {
      const outcomes: Record<Mode, Awaited<ReturnType<typeof scenario>>> = {
        threadpool: await scenario('threadpool', lone),
        inline: await scenario('inline', lone),
        adaptive: await scenario('adaptive', lone),
      };
      expect(outcomes.threadpool.failed).toEqual({ failedInline: 0, failedThreadPool: 1 });
      expect(outcomes.inline.failed).toEqual({ failedInline: 1, failedThreadPool: 0 });
      expect(outcomes.adaptive.failed.failedInline + outcomes.adaptive.failed.failedThreadPool).toBe(1);
      for (const mode of ['inline', 'adaptive'] as const) {
        expect(outcomes[mode].doomedErrors, mode).toEqual(outcomes.threadpool.doomedErrors);
        expect(outcomes[mode].laterError, mode).toEqual(outcomes.threadpool.laterError);
      }
      for (const error of outcomes.threadpool.doomedErrors) expect(error).toBeDefined();
      expect(outcomes.threadpool.laterError).toBeDefined();
      if (process.env.REVIEW_IO_PRINT) console.log(JSON.stringify(outcomes));
    });
  }
});

describe('close() called while a lone commit\'s inline fdatasync is due', () => {
  for (const failing of [false, true]) {
    it(`put then close in the same turn (${failing ? 'the sync fails' : 'the sync succeeds'}): the put's answer holds after reopen`, async () => {
      const directory = temporaryDirectory('ladybug-review-io-close-');
      const walDescriptors = trackWalDescriptors();
      let store = await openStore(directory, { syncMode: 'inline' });
      await store.put('before', 'b');
      const failed = failing ? armWalSyncFailure(walDescriptors) : undefined;
      const putting = errorOf(store.put('raced', 'r'));
      const closing = errorOf(store.close());
      const putError = await putting;
      const closeError = await closing;
      vi.restoreAllMocks();
      if (failing) {
        expect(failed).toEqual({ failedInline: 1, failedThreadPool: 0 });
        expect(putError?.name).toBe('CommitOutcomeUnknownError');
      } else {
        expect(putError).toBeUndefined();
        expect(closeError).toBeUndefined();
      }
      store = await openStore(directory, { syncMode: 'inline' });
      try {
        expect(await store.get('before')).toBe('b');
        if (putError === undefined) expect(await store.get('raced')).toBe('r');
        else expect([undefined, 'r']).toContain(await store.get('raced'));
      } finally {
        await store.close();
      }
    });
  }
});
