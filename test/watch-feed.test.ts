/**
 * store.watch(): catch-up from sinceVersion through memtables and runs, then live
 * commits, each change once and in version order; exactly once across a reopen;
 * bounded buffer; a commit that was never acknowledged is never delivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, ErrorCode, openStore, type Store, WatchOverflowError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const OPTIONS = { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 };

async function take(iterator: AsyncIterator<Change>, count: number): Promise<Change[]> {
  const changes: Change[] = [];
  while (changes.length < count) {
    const next = await iterator.next();
    if (next.done === true) break;
    changes.push(next.value);
  }
  return changes;
}

describe('watch', () => {
  it('catches up from runs and memtables (deletes included), then follows live commits, in order, none twice', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    await store.put('a', 1);
    await store.put('b', 2);
    await store.checkpoint(); // versions 1..2 now live in a run
    await store.delete('a');
    await store.batch([{ type: 'put', key: 'c', value: 3 }, { type: 'put', key: 'b', value: 4 }]);
    const lease = await store.leases.acquire('hidden', { owner: 'o', ttlMs: 60_000 }); // reserved keys are not delivered
    const feed = store.watch({ sinceVersion: 0 });
    const caughtUp = await take(feed, 5);
    expect(caughtUp).toEqual([
      { version: 1, key: 'a', value: 1, deleted: false },
      { version: 2, key: 'b', value: 2, deleted: false },
      { version: 3, key: 'a', deleted: true },
      { version: 4, key: 'b', value: 4, deleted: false },
      { version: 4, key: 'c', value: 3, deleted: false },
    ]);
    const live = take(feed, 2);
    await store.put('d', 5);
    await store.put('e', 6);
    expect((await live).map((change) => [change.version, change.key])).toEqual([[lease.token + 1, 'd'], [lease.token + 2, 'e']]);
    await feed.return(undefined);
    await store.close();
  });

  it('filters by key range and starts after sinceVersion', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    for (const key of ['p/1', 'q/1', 'p/2']) await store.put(key, key);
    const feed = store.watch({ gte: 'p/', lt: 'p0', sinceVersion: 1 });
    expect((await take(feed, 1)).map((change) => change.key)).toEqual(['p/2']);
    const live = take(feed, 1);
    await store.put('q/2', 0);
    await store.put('p/3', 0);
    expect((await live).map((change) => change.key)).toEqual(['p/3']);
    await feed.return(undefined);
    await store.close();
  });

  it('every durable commit exactly once in order across a reopen (resume with sinceVersion)', async () => {
    const directory = temporaryDirectory();
    const seen: Change[] = [];
    let store: Store = await openStore(directory, OPTIONS);
    let feed = store.watch({ sinceVersion: 0 });
    for (let index = 0; index < 20; index++) await store.put(`k${index % 7}`, index);
    seen.push(...(await take(feed, 12)));
    await feed.return(undefined);
    await store.close();
    store = await openStore(directory, OPTIONS);
    feed = store.watch({ sinceVersion: seen.at(-1)!.version });
    for (let index = 20; index < 30; index++) await store.put(`k${index % 7}`, index);
    seen.push(...(await take(feed, 18)));
    await feed.return(undefined);
    await store.close();
    expect(seen.map((change) => change.version)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
    expect(seen.map((change) => change.value)).toEqual(Array.from({ length: 30 }, (_, index) => index));
  });

  it('never delivers a commit that was not acknowledged (crash before its fdatasync)', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/w', { ...OPTIONS, fileSystem });
    await store.put('x', 1);
    const feed = store.watch();
    let delivered = false;
    void take(feed, 1).then(() => (delivered = true), () => undefined);
    fileSystem.crashAfterOperations(0);
    await expect(store.put('x', 2)).rejects.toThrow();
    // A delivery is queued synchronously at acknowledgement and reaches the consumer in microtasks.
    await new Promise((resolve) => setImmediate(resolve));
    expect(delivered).toBe(false);
    store[abandonStore]();
    const reopened = await openStore('/w', { ...OPTIONS, fileSystem: fileSystem.crash('drop-unsynced') });
    expect(await take(reopened.watch({ sinceVersion: 0 }), 1)).toEqual([{ version: 1, key: 'x', value: 1, deleted: false }]);
    expect(reopened.version).toBe(1);
    await reopened.close();
  });

  it('a consumer too far behind gets WatchOverflowError naming where to resume', async () => {
    const store = await openStore(temporaryDirectory(), { ...OPTIONS, segmentSizeBytes: 4 * 1024 * 1024 });
    const feed = store.watch();
    const first = feed.next();
    await store.put('start', 0);
    expect((await first).value).toMatchObject({ key: 'start' });
    const operations = Array.from({ length: 1000 }, (_, index) => ({ type: 'put' as const, key: `k${index}`, value: index }));
    for (let round = 0; round < 11; round++) await store.batch(operations);
    const error = await take(feed, 20_000).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WatchOverflowError);
    expect((error as WatchOverflowError).code).toBe(ErrorCode.WatchOverflow);
    expect((error as WatchOverflowError).lastDeliveredVersion).toBe(1);
    await store.close();
  });
});
