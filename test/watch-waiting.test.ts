/**
 * Watchers waiting for commits (src/watch/change-feed.ts): an abort ends only the
 * feed it was given to, the others keep receiving; a store closed while watchers
 * wait ends every waiting feed with StoreClosedError (the hub-wide closed check);
 * many watchers over many commits each receive every change once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, ErrorCode, openStore, StoreClosedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const OPTIONS = { segmentSizeBytes: 64 * 1024 };

describe('watchers waiting for commits', () => {
  it('an abort ends its own feed while it waits; another watcher keeps receiving', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    try {
      const controller = new AbortController();
      const aborted = store.watch({ signal: controller.signal });
      const kept = store.watch({});
      const abortedNext = aborted.next();
      const keptNext = kept.next();
      await new Promise((resolve) => setImmediate(resolve)); // both are waiting now
      controller.abort();
      await expect(abortedNext).rejects.toMatchObject({ name: 'AbortError' });
      const { version } = await store.put('k', 1);
      expect((await keptNext).value).toEqual({ version, key: 'k', value: 1, deleted: false });
      await kept.return(undefined);
    } finally {
      await store.close();
    }
  });

  it('closing the store ends every waiting feed with StoreClosedError', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    const feeds = [store.watch({}), store.watch({ gte: 'a' }), store.watch({ sinceVersion: 0 })];
    const pending = feeds.map((feed) => feed.next().then(() => undefined, (error: unknown) => error));
    await new Promise((resolve) => setImmediate(resolve));
    await store.close();
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(StoreClosedError);
      expect((error as StoreClosedError).code).toBe(ErrorCode.StoreClosed);
    }
  });

  it('10 watchers over 200 concurrent commits: each receives every change once, in order', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    try {
      const first = store.version;
      const feeds = Array.from({ length: 10 }, () => store.watch({ untilVersion: first + 200 }));
      const received = feeds.map(async (feed) => {
        const changes: Change[] = [];
        for await (const change of feed) changes.push(change);
        return changes.map((change) => change.version);
      });
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(Array.from({ length: 200 }, (_, index) => store.put(`k/${index}`, index)));
      const expected = Array.from({ length: 200 }, (_, index) => first + 1 + index);
      for (const versions of await Promise.all(received)) expect(versions).toEqual(expected);
    } finally {
      await store.close();
    }
  });
});
