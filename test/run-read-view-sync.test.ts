/**
 * Point reads through runs (src/engine/read-view.ts #slotFromRuns): when every run
 * answers synchronously (its filter rules the key out, or its blocks are cached)
 * the read view answers without a promise (it awaited every run's answer, one
 * microtask per run per get); when a run in the middle must read its file, the
 * read continues asynchronously and asks the same runs, newest first, as the
 * all-synchronous path does: down to the first run holding an entry at or below the
 * read version, whether or not the point cache keeps the entries (a key's second
 * miss; what it keeps is then an incomplete point, see test/read-incomplete-point.test.ts).
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

/** The synchronous path's answer (or error code) and the runs it asked, on fresh views. */
function synchronousAnswer(key: string, version: number, admitted: boolean): { answer: unknown; calls: number[] } {
  const { view, runs } = views(undefined);
  // The first miss (the answer may be an error: this view retains no older version): the doorkeeper now admits the key.
  if (admitted) expect(() => view.slotAsOf(key, request(version))).not.toThrow(TypeError);
  const before = runs.map((run) => run.calls.length);
  let answer: unknown;
  try {
    const slot = view.slotAsOf(key, request(version));
    expect(slot).not.toBeInstanceOf(Promise);
    answer = read(slot);
  } catch (error) {
    answer = (error as { code?: string }).code;
  }
  return { answer, calls: runs.map((run, index) => run.calls.length - before[index]!) };
}

describe('read view over runs', () => {
  it('answers without a promise when every run answers synchronously; a first miss stops at the run that decides', () => {
    const { view, runs } = views(undefined);
    const slot = view.slotAsOf('a', request(100));
    expect(slot).not.toBeInstanceOf(Promise);
    expect(read(slot)).toBe('a30');
    // The newest run holds a30 at or below the read version: the older runs cannot change the answer.
    expect(runs.map((run) => run.calls.length)).toEqual([1, 0, 0]);
    // The second miss is admitted to the point cache: it stops at the same run and caches what it read...
    expect(read(view.slotAsOf('a', request(100)))).toBe('a30');
    expect(runs.map((run) => run.calls.length)).toEqual([2, 0, 0]);
    // ...so the third read asks no run.
    expect(read(view.slotAsOf('a', request(100)))).toBe('a30');
    expect(runs.map((run) => run.calls.length)).toEqual([2, 0, 0]);
  });

  it('a run that reads its file in the middle: asynchronous, same answers and same runs asked as the synchronous path, at every version', async () => {
    for (const admitted of [false, true]) {
      for (const key of ['a', 'b', 'c']) {
        for (const version of [5, 10, 11, 20, 21, 29, 30, 100]) {
          const expected = synchronousAnswer(key, version, admitted);
          const { view, runs } = views(1);
          if (admitted) await Promise.resolve(view.slotAsOf(key, request(version))).catch(() => undefined);
          const before = runs.map((run) => run.calls.length);
          const mixed = view.slotAsOf(key, request(version));
          const answer = await Promise.resolve(mixed).then(read, (error: { code?: string }) => error.code);
          expect(answer).toEqual(expected.answer);
          const calls = runs.map((run, index) => run.calls.length - before[index]!);
          expect(calls).toEqual(expected.calls);
          // Asynchronous exactly when the read reached the run that reads its file.
          expect(mixed instanceof Promise).toBe(calls[1] === 1);
          // An admitted miss stops early as a first miss does; neither reads a run twice.
          expect(calls.every((count) => count <= 1)).toBe(true);
        }
      }
    }
  });
});
