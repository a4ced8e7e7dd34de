/**
 * New-user review (installed tarball): an as-of scan that reaches a key whose version
 * as of then is no longer retained threw VersionNotRetainedError at its first next(),
 * before the retained keys in front of that key: `ladybug dump --as-of 7` printed
 * nothing, and scan({ asOf: 7, limit: 5 }) returned five entries where limit 6 returned
 * none. MergedScan resolved a whole chunk (256 keys) before the first was delivered and
 * the failing key threw the chunk away. Now the chunk ends before the failing key, its
 * entries are delivered, and the next step throws (the scan still never answers the
 * failing key, nor goes past it).
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError, type Store } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

/** Keys a..e at versions 1..5, then c again (version 6): with one version kept per key, c as of 5 is gone. */
async function storeWithTrimmedKey(inRuns: boolean): Promise<Store> {
  const store = await memoryStore({ maxVersionsPerKey: 1 });
  for (const key of ['a', 'b', 'c', 'd', 'e']) await store.put(key, key);
  await store.put('c', 'c2');
  if (inRuns) {
    await store.checkpoint();
    await store.compact();
  }
  expect(await store.get('c', { asOf: 5 }).catch((error: unknown) => error)).toBeInstanceOf(VersionNotRetainedError);
  return store;
}

async function scanUntilFailure(store: Store, options: { reverse?: boolean; limit?: number; asOf?: number; gte?: string }): Promise<{ keys: unknown[]; error: unknown }> {
  const keys: unknown[] = [];
  try {
    for await (const [key] of store.scan({ asOf: 5, ...options })) keys.push(key);
  } catch (error) {
    return { keys, error };
  }
  return { keys, error: undefined };
}

describe('user review: an as-of scan fails at the key it cannot answer, not before', () => {
  it('the error names the key (the message said "this key", which a dump or scan never said)', async () => {
    const store = await storeWithTrimmedKey(true);
    const { error } = await scanUntilFailure(store, { reverse: true });
    expect(error).toMatchObject({ key: 'c', version: 5, code: 'LADYBUG_VERSION_NOT_RETAINED' });
    expect((error as Error).message).toContain('key "c"');
    const get = await store.get('c', { asOf: 5 }).catch((caught: unknown) => caught);
    expect((get as VersionNotRetainedError).key).toBeUndefined();
    const binary = await memoryStore({ maxVersionsPerKey: 1, keyEncoding: 'binary' });
    await binary.put(new Uint8Array([0xff]), 1);
    await binary.put(new Uint8Array([0xff]), 2);
    const failed = await scanUntilFailure(binary, { asOf: 1 });
    expect([...((failed.error as VersionNotRetainedError).key as Uint8Array)]).toEqual([0xff]);
    expect((failed.error as Error).message).toContain('key 0xff');
    // A binary-encoded scan (as ladybug dump reads) names a key that has a UTF-8 form as a string.
    await binary.put('text', 1);
    await binary.put('text', 2);
    const text = await scanUntilFailure(binary, { asOf: 3, gte: 'text' });
    expect([...((text.error as VersionNotRetainedError).key as Uint8Array)]).toEqual([...Buffer.from('text')]);
    expect((text.error as Error).message).toContain('key "text"');
  });

  for (const inRuns of [false, true]) {
    it(`delivers the retained keys before the failing one (${inRuns ? 'runs' : 'memtable'})`, async () => {
      const store = await storeWithTrimmedKey(inRuns);
      const forward = await scanUntilFailure(store, {});
      expect(forward.keys).toEqual(['a', 'b']);
      expect(forward.error).toBeInstanceOf(VersionNotRetainedError);
      const reverse = await scanUntilFailure(store, { reverse: true });
      expect(reverse.keys).toEqual(['e', 'd']);
      expect(reverse.error).toBeInstanceOf(VersionNotRetainedError);
      // A limit that stops before the failing key succeeds; one that reaches it fails there.
      expect(await scanUntilFailure(store, { limit: 2 })).toEqual({ keys: ['a', 'b'], error: undefined });
      const three = await scanUntilFailure(store, { limit: 3 });
      expect(three.keys).toEqual(['a', 'b']);
      expect(three.error).toBeInstanceOf(VersionNotRetainedError);
      expect(store.stats().pinnedReads).toBe(0);
    });
  }
});
