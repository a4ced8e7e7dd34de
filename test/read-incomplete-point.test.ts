/**
 * An admitted miss (a key's second, PointCache#admitsMiss) stops at the run that decides
 * it, like a first miss, and the point cache keeps an incomplete point: the entries of
 * the runs read, whose newest one answers the plain gets that follow. Before, an
 * admitted miss read every run so as to cache the key's whole history: on the 10M store
 * (many runs, hot keys written first, so in the oldest runs) skewed gets paid that for
 * every key read twice. A read the newest entry does not answer (as of an older
 * version, or with a memtable holding the key) reads every run and caches the complete
 * point in its place; the answers stay exactly resolveSlot's over every run.
 */
import { describe, expect, it } from 'vitest';
import { prepareValue, readStored, type StoredValue } from '../src/codec/values.js';
import { PointCache } from '../src/engine/point-cache.js';
import { ReadView, type ReadRequest } from '../src/engine/read-view.js';
import { resolveSlot } from '../src/engine/resolve.js';
import type { RunHandle } from '../src/engine/run-set.js';
import { StorageMetrics } from '../src/metrics/recorders.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

function fakeRun(entries: RunEntry[], asynchronous: boolean): { run: RunHandle; calls: () => number } {
  let calls = 0;
  const run = {
    acquire: () => undefined,
    release: () => undefined,
    probeOf: () => undefined,
    versionsOf: (key: string) => {
      calls++;
      const found = entries.filter((entry) => entry.key === key);
      return asynchronous ? Promise.resolve(found) : found;
    },
  } as unknown as RunHandle;
  return { run, calls: () => calls };
}

const request = (version: number): ReadRequest => ({ version, referenceVersion: version, pinFloor: Infinity });
const value = (text: string) => prepareValue(text, 1024).encoded;
const read = (slot: unknown) => (slot === undefined || typeof slot === 'symbol' ? slot : readStored(slot as StoredValue));

// Runs newest first; 'k' has a version in each, 'old' only in the oldest.
const LAYERS: RunEntry[][] = [
  [{ key: 'k', version: 30, value: value('k30') }],
  [{ key: 'k', version: 20, value: value('k20') }],
  [{ key: 'k', version: 10, value: value('k10') }, { key: 'old', version: 5, value: value('old5') }],
];

function setUp(asynchronousRun?: number) {
  const runs = LAYERS.map((entries, index) => fakeRun(entries, index === asynchronousRun));
  const cache = new PointCache(1024 * 1024);
  const view = new ReadView([], runs.map((entry) => entry.run), 10, [{}], cache, new StorageMetrics());
  return { view, cache, calls: () => runs.map((run) => run.calls()) };
}

describe('incomplete points: an admitted miss stops at the deciding run', () => {
  for (const asynchronousRun of [undefined, 0]) {
    it(`plain gets, then reads the newest entry does not answer (${asynchronousRun === undefined ? 'synchronous runs' : 'the newest run reads its file'})`, async () => {
      const { view, cache, calls } = setUp(asynchronousRun);
      // First miss: not admitted, stops at the newest run. Second miss: admitted, stops there too.
      for (let miss = 0; miss < 2; miss++) expect(read(await view.slotAsOf('k', request(100)))).toBe('k30');
      expect(calls()).toEqual([2, 0, 0]);
      expect(cache.stats().keys).toBe(1);
      // A hit.
      expect(read(await view.slotAsOf('k', request(100)))).toBe('k30');
      expect(calls()).toEqual([2, 0, 0]);
      // As of 25: the newest entry (30) does not answer; every run is read and the complete point cached...
      expect(read(await view.slotAsOf('k', request(25)))).toBe('k20');
      expect(calls()).toEqual([3, 1, 1]);
      // ...which answers every version from then on.
      expect(read(await view.slotAsOf('k', request(15)))).toBe('k10');
      expect(read(await view.slotAsOf('k', request(9)))).toBeUndefined();
      expect(read(await view.slotAsOf('k', request(100)))).toBe('k30');
      expect(calls()).toEqual([3, 1, 1]);
      // A key only the oldest run holds: every run is asked anyway, and its point is complete.
      for (let miss = 0; miss < 2; miss++) expect(read(await view.slotAsOf('old', request(100)))).toBe('old5');
      expect(read(await view.slotAsOf('old', request(4)))).toBeUndefined();
      expect(calls()).toEqual([5, 3, 3]);
    });
  }

  it('an incomplete point of a key cached by an as-of read answers only what its newest entry decides', async () => {
    const { view, calls } = setUp();
    // Two misses as of 25 stop at the middle run: cached k30 and k20 (the oldest run unread).
    for (let miss = 0; miss < 2; miss++) expect(read(await view.slotAsOf('k', request(25)))).toBe('k20');
    expect(calls()).toEqual([2, 2, 0]);
    expect(read(await view.slotAsOf('k', request(100)))).toBe('k30'); // the newest entry answers: a hit
    expect(calls()).toEqual([2, 2, 0]);
    expect(read(await view.slotAsOf('k', request(15)))).toBe('k10'); // not answered by the point: every run read
    expect(calls()).toEqual([3, 3, 1]);
    const expected = resolveSlot(LAYERS.map((entries) => ({ entries: entries.filter((entry) => entry.key === 'k') })), { ...request(12), maxVersionsPerKey: 10 });
    expect(read(await view.slotAsOf('k', request(12)))).toBe(read(expected));
    expect(calls()).toEqual([3, 3, 1]);
  });
});
