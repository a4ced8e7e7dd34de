/**
 * The point cache (src/engine/point-cache.ts): admission on a key's second miss,
 * a bound that holds after every set, entries rebuilt exactly for single-entry keys,
 * and a new run set emptying it.
 */
import { describe, expect, it } from 'vitest';
import { encodeStored, EncodedValue, prepareValue } from '../src/codec/values.js';
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
});
