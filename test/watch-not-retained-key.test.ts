/**
 * A watch catch-up that meets a key whose versions were trimmed fails with a
 * VersionNotRetainedError naming that key (in the feed's key encoding), as a scan's does;
 * before, its message said "for this key" with no key, and a feed over a range could not
 * say which. A catch-up from below the store's retention floor names no key (it is not one
 * key's history) and says so in no words about "this key".
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

async function drainError(feed: AsyncIterable<unknown>): Promise<VersionNotRetainedError> {
  const error = await (async () => {
    for await (const _change of feed) { /* drain */ }
  })().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(VersionNotRetainedError);
  return error as VersionNotRetainedError;
}

describe('watch catch-up: VersionNotRetainedError names its key', () => {
  it('in the memtable, as a string and as bytes', async () => {
    const store = await memoryStore({ maxVersionsPerKey: 2 });
    await store.put('keep', 0);
    for (let index = 1; index <= 4; index++) await store.put('user:7', index);
    const error = await drainError(store.watch({ sinceVersion: 1 }));
    expect(error.key).toBe('user:7');
    expect(error.message).toContain('for key "user:7"');
  });

  it('as bytes in a store of binary keys', async () => {
    const store = await memoryStore({ maxVersionsPerKey: 2, keyEncoding: 'binary' });
    await store.put(Buffer.from('keep'), 0);
    for (let index = 1; index <= 4; index++) await store.put(Buffer.from('user:9'), index);
    const error = await drainError(store.watch({ sinceVersion: 1 }));
    expect(error.key).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(error.key as Uint8Array).toString()).toBe('user:9');
  });

  it('in a run, after a checkpoint', async () => {
    const store = await memoryStore({ maxVersionsPerKey: 2 });
    await store.put('keep', 0);
    for (let index = 1; index <= 4; index++) await store.put('user:8', index);
    await store.checkpoint();
    const error = await drainError(store.watch({ sinceVersion: 1 }));
    expect(error.key).toBe('user:8');
  });
});

describe('watch catch-up below the retention floor', () => {
  it('names no key and does not speak of one', async () => {
    const store = await memoryStore();
    for (let index = 1; index <= 4; index++) await store.put(`k${index}`, index);
    await store.checkpoint();
    expect((await store.compact({ retainFrom: 3 })).retentionFloor).toBe(3);
    const error = await drainError(store.watch({ sinceVersion: 1 }));
    expect(error.key).toBeUndefined();
    expect(error.message).toBe('version 1 is no longer retained (oldest retained: 3)');
  });
});
