/**
 * close() ends the watch feeds waiting for a commit at once, with StoreClosedError (the
 * feed's documented end at close), and leaves no timer. They used to end only at the
 * hub's next closed check, a 1 s interval (src/watch/change-feed.ts), after close() had
 * resolved. Only setInterval and clearInterval are faked here, so that check never fires
 * by itself: the feeds must settle before close() resolves, from close() alone.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, openStore, StoreClosedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(async () => {
  vi.useRealTimers();
  await removeTemporaryDirectories();
});

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('watch feeds waiting at close', () => {
  it('end with StoreClosedError before close() resolves, and no interval is left', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const store = await openStore(temporaryDirectory());
    await store.put('a', 1);
    const storeTimers = vi.getTimerCount(); // the store's own (its lock's heartbeat)
    const feeds = [store.watch(), store.watch({ gte: 'b' }), store.watch({ sinceVersion: 0 })];
    const first = await feeds[2]!.next();
    expect(first.value).toMatchObject({ version: 1, key: 'a' });
    const pending = feeds.map((feed) => feed.next().then(() => undefined, (error: unknown) => error));
    await nextTurn(); // every feed waits for a commit now
    expect(vi.getTimerCount()).toBe(storeTimers + 1); // the hub's closed check
    const closing = store.close();
    const settledFirst = await Promise.race([Promise.all(pending).then(() => 'feeds'), closing.then(() => 'close')]);
    expect(settledFirst).toBe('feeds');
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(StoreClosedError);
      expect((error as StoreClosedError).code).toBe(ErrorCode.StoreClosed);
    }
    await closing;
    expect(vi.getTimerCount()).toBe(0);
    for (const feed of feeds) expect(await feed.next()).toEqual({ done: true, value: undefined });
  });

  it('a handle abandoned as a dead process ends its waiting feeds at once too', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const store = await openStore(temporaryDirectory());
    const feed = store.watch();
    const pending = feed.next().then(() => undefined, (error: unknown) => error);
    await nextTurn();
    store[abandonStore]();
    // Woken in abandon's own step: settled within its microtasks, before the next turn.
    expect(await Promise.race([pending, nextTurn().then(() => 'still waiting')])).toBeInstanceOf(StoreClosedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});
