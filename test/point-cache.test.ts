/**
 * The point cache (src/engine/point-cache.ts): admission on a key's second miss,
 * a bound that holds after every set, entries rebuilt exactly for single-entry keys,
 * a new run set emptying it, and a flush keeping the keys it did not write (carryOverFlush),
 * also through a store: a hot key read from a run stays cached across flushes of other
 * keys, and a flush of the key itself drops its stale entries.
 */
import { describe, expect, it } from 'vitest';
import { openStore, VersionNotRetainedError } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';
import { encodeStored, prepareValue } from '../src/codec/values.js';
import { EncodedValue } from '../src/codec/value-slabs.js';
import { PointCache, pointEntries } from '../src/engine/point-cache.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

const runs: readonly unknown[] = [];
/** Entries with their value bytes as hex, so Buffer and Uint8Array views compare by content. */
const bytesOf = (entries: readonly RunEntry[]) => entries.map((item) => ({ ...item, value: item.value === undefined ? undefined : Buffer.from(item.value).toString('hex') }));
const entry = (key: string, version: number, value: unknown): RunEntry => ({ key, version, value: value === undefined ? undefined : encodeStored(prepareValue(value, 1 << 20).stored) });

describe('PointCache', () => {
  it('admits a key on its second miss and then serves it', () => {
    const cache = new PointCache(1 << 20);
    cache.set('a', runs, [entry('a', 3, 'x')]);
    expect(cache.get('a', runs)).toBeUndefined();
    cache.set('a', runs, [entry('a', 3, 'x')]);
    const point = cache.get('a', runs);
    expect(point?.newest).toBe('x');
    expect(point?.newestVersion).toBe(3);
  });

  it('rebuilds a single entry byte for byte, keeps several entries as given, and tombstones as deletes', () => {
    const cache = new PointCache(1 << 20);
    const single = cache.set('k', runs, [entry('k', 7, { deep: [1, 'two'] })]);
    expect(single.newest).toBeInstanceOf(EncodedValue);
    expect(bytesOf(pointEntries('k', single))).toEqual(bytesOf([entry('k', 7, { deep: [1, 'two'] })]));
    const several = [entry('m', 9, 2), entry('m', 4, undefined), entry('m', 2, 1)];
    expect(bytesOf(pointEntries('m', cache.set('m', runs, several)))).toEqual(bytesOf(several));
    const deleted = cache.set('d', runs, [entry('d', 5, undefined)]);
    expect(deleted.newest).toBe(TOMBSTONE);
    expect(pointEntries('d', deleted)).toEqual([{ key: 'd', version: 5, value: undefined }]);
    expect(pointEntries('none', cache.set('none', runs, []))).toEqual([]);
  });

  it('stays within its bound after every set, and a new run set empties it', () => {
    const cache = new PointCache(64 * 1024);
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 2000; index++) {
        cache.set(`key-${index}`, runs, [entry(`key-${index}`, index + 1, 'v'.repeat(100))]);
        expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
      }
    }
    expect(cache.stats().keys).toBeGreaterThan(0);
    const hot = cache.stats().keys;
    expect(hot).toBeLessThan(2000);
    const otherRuns: readonly unknown[] = [];
    expect(cache.get('key-1999', otherRuns)).toBeUndefined();
    cache.set('key-1999', otherRuns, [entry('key-1999', 2000, 'y')]);
    expect(cache.bytes).toBeLessThan(1024);
  });

  it('a flush keeps the entries of keys it did not write and drops those it wrote', () => {
    const cache = new PointCache(1 << 20);
    const before: readonly unknown[] = [];
    for (const key of ['kept', 'flushed', 'absent']) {
      const entries = key === 'absent' ? [] : [entry(key, 3, key)];
      cache.set(key, before, entries);
      cache.set(key, before, entries);
    }
    const bytesBefore = cache.bytes;
    const after: readonly unknown[] = [];
    cache.carryOverFlush(before, after, (key) => key === 'flushed' || key === 'absent');
    expect(cache.get('kept', after)?.newest).toBe('kept');
    expect(cache.get('flushed', after)).toBeUndefined();
    expect(cache.get('absent', after)).toBeUndefined();
    expect(cache.bytes).toBeLessThan(bytesBefore);
    expect(cache.stats().keys).toBe(1);
    // A cache bound to another run set is not rebound by a flush it did not see.
    const unrelated: readonly unknown[] = [];
    cache.carryOverFlush(unrelated, [], () => false);
    expect(cache.get('kept', after)?.newest).toBe('kept');
  });
});

describe('the point cache across flushes (store)', () => {
  it('serves a hot key from the cache after a flush of other keys, and the new value after a flush of the key', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 8 * 1024 * 1024 });
    try {
      await store.put('hot', 'first');
      for (let index = 0; index < 200; index++) await store.put(`other-${index}`, index);
      await store.checkpoint();
      const cacheReads = () => store.stats().storage.blockCacheHits + store.stats().storage.blockCacheMisses;
      for (let read = 0; read < 2; read++) expect(await store.get('hot')).toBe('first'); // the second miss admits it
      let before = cacheReads();
      expect(await store.get('hot')).toBe('first');
      expect(cacheReads()).toBe(before); // served by the point cache: no block looked up

      await store.put('unrelated', 1);
      await store.checkpoint(); // a flush installs a run that does not hold 'hot'
      before = cacheReads();
      expect(await store.get('hot')).toBe('first');
      expect(cacheReads()).toBe(before); // still cached (before carryOverFlush the install emptied the cache)

      await store.put('hot', 'second');
      await store.checkpoint(); // a flush of 'hot' itself: its cached entries are stale
      expect(await store.get('hot')).toBe('second');
      expect(await store.get('hot', { asOf: 1 })).toBe('first');
      expect(store.stats().storage.runs).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('a compaction keeps keys cached with one entry or none, and reads stay exact with retention dropping versions', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 8 * 1024 * 1024 });
    try {
      await store.put('hot', 'only');
      const many: number[] = [];
      for (let write = 0; write < 3; write++) {
        many.push((await store.put('many', write)).version);
        await store.checkpoint(); // three runs: 'many' has one version in each
      }
      const cacheReads = () => store.stats().storage.blockCacheHits + store.stats().storage.blockCacheMisses;
      for (let read = 0; read < 2; read++) {
        expect(await store.get('hot')).toBe('only');
        expect(await store.get('many')).toBe(2);
        expect(await store.get('absent')).toBeUndefined();
      }
      // The plain gets cached 'many' from the newest run alone (an incomplete point); a read
      // its newest entry does not answer reads every run and caches all three entries.
      expect(await store.get('many', { asOf: many[1]! })).toBe(1);
      await store.compact({ retainFrom: many[2]! }); // one run; 'many' keeps only its newest version
      expect(store.stats().storage.runs).toBe(1);
      const before = cacheReads();
      expect(await store.get('hot')).toBe('only');
      expect(await store.get('absent')).toBeUndefined();
      expect(cacheReads()).toBe(before); // both still cached (before carryOverCompaction the install emptied the cache)
      expect(await store.get('many')).toBe(2);
      expect(cacheReads()).toBeGreaterThan(before); // several entries: dropped, read again
      await expect(store.get('many', { asOf: many[0]! })).rejects.toBeInstanceOf(VersionNotRetainedError);
      expect(await store.get('hot', { asOf: many[2]! })).toBe('only');
    } finally {
      await store.close();
    }
  });
});
