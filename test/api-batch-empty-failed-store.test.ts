/**
 * store.batch([]) on a failed store (fail-stop, README "Errors") resolved with the
 * visible version, as if the store were healthy, where every other write (put, delete,
 * a batch with operations) rejects with the store's failure and batch([]) on a closed
 * store rejects with StoreClosedError. An empty batch commits nothing either way, but
 * its caller asked to write and is told the write path is gone, with the same
 * StoreFailedError a put gets, for each of the three causes: a WAL fdatasync failed, a
 * flush failed for good, the directory lock was taken over. On a healthy store an empty
 * batch still resolves with the visible version and commits nothing. The same holds
 * for an empty batch with a lease (its lease check is a read, which a failed store
 * still answers).
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommitOutcomeUnknownError, ErrorCode, openStore, type Store, StoreClosedError, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { LOCK_HEARTBEAT_INTERVAL_MS } from '../src/limits.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

/** batch([]) rejects as put, delete and a non-empty batch do: a StoreFailedError with the same message. */
async function expectEmptyBatchRefused(store: Store): Promise<void> {
  expect(store.stats().failed).toBe(true);
  const put = await errorOf(store.put('refused', 1));
  expect(put).toBeInstanceOf(StoreFailedError);
  for (const error of [await errorOf(store.batch([])), await errorOf(store.delete('refused')), await errorOf(store.batch([{ type: 'put', key: 'x', value: 1 }]))]) {
    expect(error).toBeInstanceOf(StoreFailedError);
    expect(error).toMatchObject({ code: ErrorCode.StoreFailed, message: (put as Error).message });
  }
}

describe('store.batch([]) on a failed store rejects with its failure', () => {
  it('a WAL fdatasync failed: the same StoreFailedError object a put gets', async () => {
    const fileSystem = new FaultFileSystem(41);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.put('a', 1);
      const lease = await store.leases.acquire('jobs/a', { owner: 'me', ttlMs: 600_000 });
      expect(await store.batch([])).toEqual({ version: 2 });
      expect(await store.batch([], { lease })).toEqual({ version: 2 });
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /^\/db\/wal\/wal-\d{10}\.log$/ });
      await expect(store.put('doomed', 1)).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
      await expectEmptyBatchRefused(store);
      const failure = await errorOf(store.put('b', 2));
      expect(await errorOf(store.batch([]))).toBe(failure);
      // With a lease too: its check is a read, which a failed store still answers; the batch is refused all the same.
      expect(await errorOf(store.batch([], { lease }))).toBe(failure);
    } finally {
      await store.close().catch(() => undefined);
    }
    expect(await errorOf(store.batch([]))).toBeInstanceOf(StoreClosedError);
  });

  it('a flush failed for good (a run file fsync failed)', async () => {
    const fileSystem = new FaultFileSystem(42);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.put('k', Buffer.alloc(64, 1));
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\/runs\// });
      await expect(store.checkpoint()).rejects.toThrow();
      await expectEmptyBatchRefused(store);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('the directory lock was taken over by another process', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const fileSystem = new FaultFileSystem(43);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.put('k', 1);
      const taker = await fileSystem.open('/db/LOCK.000000000002', 'createExclusive');
      await taker.write(Buffer.from('{}'), 0);
      await taker.close();
      await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
      await expectEmptyBatchRefused(store);
    } finally {
      await store.close().catch(() => undefined);
    }
  });
});
