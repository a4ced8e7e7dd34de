/**
 * One store directory opened from two threads of one process: the main thread and a
 * worker thread, or two worker threads. Each thread loads its own copy of the package
 * (module state is per thread), so whatever one thread knows of its open handles the
 * other does not. Exactly one thread may hold the directory; the other gets
 * StoreLockedError, never a second handle writing the same WAL.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store, StoreLockedError } from '../src/index.js';
import { DIST_DIRECTORY, StoreWorker } from './fixtures/worker-review-driver.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const workers: StoreWorker[] = [];
const stores: Store[] = [];

function startWorker(): StoreWorker {
  const worker = new StoreWorker();
  workers.push(worker);
  return worker;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const worker of workers.splice(0)) await worker.terminate();
  removeTemporaryDirectories();
});

describe('a directory held by one thread of the process', () => {
  it('refuses an open from a worker thread while the main thread holds it', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    stores.push(store);
    await store.put('held-by', 'main');
    const worker = startWorker();
    const answer = await worker.request('open', { directory });
    expect(answer.ok ? 'opened' : answer.error.code).toBe('LADYBUG_STORE_LOCKED');
    // The main thread's handle still holds the lock and writes.
    await store.put('after', 1);
    await store.close();
    stores.length = 0;
    // Once closed, the worker may open it.
    await worker.call('open', { directory });
    expect((await worker.call('get', { key: 'after' })).value).toBe(1);
    await worker.call('close');
  });

  it('refuses an open from the main thread while a worker thread holds it', async () => {
    const directory = temporaryDirectory();
    const worker = startWorker();
    await worker.call('open', { directory });
    await worker.call('put', { key: 'held-by', value: 'worker' });
    const opened = await openStore(directory).then((store) => {
      stores.push(store);
      return store;
    }, (error: unknown) => error);
    expect(opened).toBeInstanceOf(StoreLockedError);
    expect((opened as StoreLockedError).holderPid).toBe(process.pid);
    await worker.call('put', { key: 'after', value: 2 });
    await worker.call('close');
    const store = await openStore(directory);
    stores.push(store);
    expect(await store.get('held-by')).toBe('worker');
    expect(await store.get('after')).toBe(2);
  });

  it('keeps a handle a worker dropped without close() locked until that worker ends', async () => {
    const directory = temporaryDirectory();
    const worker = startWorker();
    await worker.call('open', { directory });
    await worker.call('put', { key: 'dropped', value: 1 });
    await worker.call('drop');
    const refused = await openStore(directory).then((store) => {
      stores.push(store);
      return store;
    }, (error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreLockedError);
    expect((refused as StoreLockedError).liveReason).toMatch(/another thread of this process \(thread \d+\), still running/);
    await worker.terminate();
    const store = await openStore(directory);
    stores.push(store);
    expect(await store.get('dropped')).toBe(1);
  });

  it('refuses an open from a second worker thread while a first holds it', async () => {
    const directory = temporaryDirectory();
    const first = startWorker();
    const second = startWorker();
    await first.call('open', { directory });
    const answer = await second.request('open', { directory });
    expect(answer.ok ? 'opened' : answer.error.code).toBe('LADYBUG_STORE_LOCKED');
    await first.call('close');
    await second.call('open', { directory });
    await second.call('close');
  });

  it('refuses an open from a second copy of the package loaded by the same thread', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    stores.push(store);
    // The built package is a second copy beside the sources this test imports: its own module state.
    const built = await import(pathToFileURL(join(DIST_DIRECTORY, 'index.js')).href) as { openStore: typeof openStore };
    expect(built.openStore).not.toBe(openStore);
    const opened = await built.openStore(directory).then((other) => {
      stores.push(other);
      return 'opened';
    }, (error: { code?: string }) => error.code);
    expect(opened).toBe('LADYBUG_STORE_LOCKED');
    await store.close();
    stores.length = 0;
    const other = await built.openStore(directory);
    await other.close();
  });

  it('lets exactly one of the main thread and two workers win opens started together', async () => {
    const contenders = [startWorker(), startWorker()];
    for (let round = 0; round < 3; round++) {
      const directory = temporaryDirectory();
      const outcomes = await Promise.all([
        openStore(directory).then((store) => {
          stores.push(store);
          return 'opened';
        }, (error: { code?: string }) => error.code),
        ...contenders.map(async (worker) => {
          const answer = await worker.request('open', { directory });
          return answer.ok ? 'opened' : answer.error.code;
        }),
      ]);
      expect(outcomes.filter((outcome) => outcome === 'opened')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome !== 'opened')).toEqual(['LADYBUG_STORE_LOCKED', 'LADYBUG_STORE_LOCKED']);
      for (const store of stores.splice(0)) await store.close();
      for (const [index, worker] of contenders.entries()) {
        if (outcomes[index + 1] === 'opened') await worker.call('close');
      }
    }
  });
});
