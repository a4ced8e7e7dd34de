/**
 * A watch without sinceVersion starts at the version visible when watch() is called,
 * not at the first next(): commits made in between are delivered (caught up from
 * history), and bad options are refused at the call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('watch start', () => {
  it('delivers commits made between watch() and the first next(), and nothing from before the call', async () => {
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 64 * 1024 });
    await store.put('before', 0);
    const feed = store.watch();
    await store.put('a', 1);
    await store.batch([{ type: 'put', key: 'b', value: 2 }, { type: 'del', key: 'before' }]);
    const first = await feed.next();
    expect(first.value).toEqual({ version: 2, key: 'a', value: 1, deleted: false });
    const second = await feed.next();
    const third = await feed.next();
    expect([second.value, third.value]).toEqual([
      { version: 3, key: 'b', value: 2, deleted: false },
      { version: 3, key: 'before', deleted: true },
    ]);
    const live = feed.next();
    await store.put('c', 3);
    expect((await live).value).toEqual({ version: 4, key: 'c', value: 3, deleted: false });
    await feed.return(undefined);
    await store.close();
  });

  it('refuses bad options at the call, not at the first next()', async () => {
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 64 * 1024 });
    expect(() => store.watch({ sinceVersion: -1 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOption }) as Error);
    await store.close();
  });
});
