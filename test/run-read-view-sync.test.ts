/**
 * Point reads through runs (src/engine/read-view.ts #slotFromRuns): when every run
 * answers synchronously (its filter rules the key out, or its blocks are cached)
 * the read view answers without a promise (it awaited every run's answer, one
 * microtask per run per get); when a run in the middle must read its file, the
 * read continues asynchronously and still gathers every run's entries, newest run
 * first, exactly as the all-synchronous path does.
 */
import { describe, expect, it } from 'vitest';
import { prepareValue, readStored, type StoredValue } from '../src/codec/values.js';
import { PointCache } from '../src/engine/point-cache.js';
import { ReadView, type ReadRequest } from '../src/engine/read-view.js';
import type { RunHandle } from '../src/engine/run-set.js';
import { StorageMetrics } from '../src/metrics/recorders.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

/** A stand-in run: answers from `entries`, synchronously or through a promise. */
function fakeRun(entries: RunEntry[], asynchronous: boolean): { run: RunHandle; calls: string[] } {
  const calls: string[] = [];
  const run = {
    acquire: () => undefined,
    release: () => undefined,
    // The read view asks the newest run for the key's filter probe once per read; a stand-in has no filter.
    probeOf: () => undefined,
    versionsOf: (key: string) => {
      calls.push(key);
      const found = entries.filter((entry) => entry.key === key);
      return asynchronous ? Promise.resolve(found) : found;
    },
  } as unknown as RunHandle;
  return { run, calls };
}

const request = (version: number): ReadRequest => ({ version, referenceVersion: version, pinFloor: Infinity });
/** A value as runs hold it (encoded), and what a slot reads back as. */
const value = (text: string) => prepareValue(text, 1024).encoded;
const read = (slot: unknown) => (slot === undefined || typeof slot === 'symbol' ? slot : readStored(slot as StoredValue));

function views(asynchronousRun: number | undefined) {
  // Runs newest first: versions 30.., 20.., 10..
  const layers: RunEntry[][] = [
    [{ key: 'a', version: 30, value: value('a30') }],
    [{ key: 'b', version: 20, value: value('b20') }, { key: 'a', version: 21, value: undefined }],
    [{ key: 'a', version: 10, value: value('a10') }, { key: 'b', version: 11, value: value('b11') }],
  ];
  const runs = layers.map((entries, index) => fakeRun(entries, index === asynchronousRun));
  const view = new ReadView([], runs.map((entry) => entry.run), 0, [{}], new PointCache(1024 * 1024), new StorageMetrics());
  return { view, runs };
}

describe('read view over runs', () => {
  it('answers without a promise when every run answers synchronously', () => {
    const { view, runs } = views(undefined);
    const slot = view.slotAsOf('a', request(100));
    expect(slot).not.toBeInstanceOf(Promise);
    expect(read(slot)).toBe('a30');
    expect(runs.map((run) => run.calls.length)).toEqual([1, 1, 1]);
  });

  it('a run that reads its file in the middle: asynchronous, same answers as the synchronous path at every version', async () => {
    for (const key of ['a', 'b', 'c']) {
      for (const version of [5, 10, 11, 20, 21, 29, 30, 100]) {
        let synchronous: unknown;
        try {
          const slot = views(undefined).view.slotAsOf(key, request(version));
          expect(slot).not.toBeInstanceOf(Promise);
          synchronous = read(slot);
        } catch (error) {
          synchronous = (error as { code?: string }).code;
        }
        const { view, runs } = views(1);
        const mixed = view.slotAsOf(key, request(version));
        expect(mixed).toBeInstanceOf(Promise);
        expect(await Promise.resolve(mixed).then(read, (error: { code?: string }) => error.code)).toEqual(synchronous);
        expect(runs.map((run) => run.calls.length)).toEqual([1, 1, 1]);
      }
    }
  });
});
