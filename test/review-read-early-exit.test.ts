/**
 * Review of 5404100 (point reads stop at the run that decides): a differential test
 * of ReadView#slotAsOf over stand-in runs against resolveSlot given every run's
 * entries (what the read did before the early exit). Random runs newest first with
 * non-overlapping version ranges, several versions of a key spread over several
 * runs, tombstones and NOT_RETAINED markers (below a newer entry of the same run, as
 * the flusher and compaction write them), random read version, reference version,
 * pin floor, maxVersionsPerKey and retention floor; each read three times on one
 * view (a first miss that may stop early, a second one that reads every run and is
 * cached, a hit), with some runs answering through a promise.
 *
 * Found: #fromEntries (the early-exit answer) returned "absent" for a newest entry
 * that is a NOT_RETAINED marker, where #fromPoint (the cached answer from the same
 * entries) and resolveSlot refuse the read. The writers never leave a marker as a
 * key's newest entry, so no store reached it; the two paths now agree anyway.
 */
import { describe, expect, it } from 'vitest';
import { prepareValue, readStored, type StoredValue } from '../src/codec/values.js';
import { RetentionFloor } from '../src/compaction/retention-floor.js';
import { PointCache } from '../src/engine/point-cache.js';
import { ReadView, type ReadRequest } from '../src/engine/read-view.js';
import { NOT_RETAINED_BYTE, resolveSlot } from '../src/engine/resolve.js';
import type { RunHandle } from '../src/engine/run-set.js';
import { StorageMetrics } from '../src/metrics/recorders.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

/** A small deterministic generator (mulberry32). */
function generator(seed: number): (limit: number) => number {
  let state = seed >>> 0;
  return (limit: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return (((mixed ^ (mixed >>> 14)) >>> 0) % limit);
  };
}

const KEYS = ['a', 'b', 'c'];
const MARKER = Uint8Array.of(NOT_RETAINED_BYTE);

function fakeRun(entries: RunEntry[], asynchronous: boolean): RunHandle {
  return {
    acquire: () => undefined,
    release: () => undefined,
    probeOf: () => undefined,
    versionsOf: (key: string) => {
      const found = entries.filter((entry) => entry.key === key);
      return asynchronous ? Promise.resolve(found) : found;
    },
  } as unknown as RunHandle;
}

/** Runs newest first; versions ascend from the oldest run, one range per run. */
function randomRuns(random: (limit: number) => number): RunEntry[][] {
  const runCount = 1 + random(5);
  const oldestFirst: RunEntry[][] = [];
  let version = 1;
  for (let run = 0; run < runCount; run++) {
    const entries: RunEntry[] = [];
    for (const key of KEYS) {
      const count = random(4);
      const versions: number[] = [];
      for (let index = 0; index < count; index++) versions.push(version + random(3) + index * 3);
      const span = count * 3 + 3;
      const descending = [...new Set(versions)].sort((left, right) => right - left);
      descending.forEach((entryVersion, index) => {
        const kind = random(4);
        const marker = index > 0 && index === descending.length - 1 && random(3) === 0;
        const value = marker ? MARKER : kind === 0 ? undefined : prepareValue(`${key}${entryVersion}`, 1024).encoded;
        entries.push({ key, version: entryVersion, value });
      });
      version += span;
    }
    oldestFirst.push(entries);
  }
  return oldestFirst.reverse();
}

function answerOf(read: () => unknown): unknown {
  try {
    const slot = read();
    if (slot instanceof Promise) return slot.then(plainSlot, (error: { code?: string }) => `error:${error.code}`);
    return plainSlot(slot);
  } catch (error) {
    return `error:${(error as { code?: string }).code}`;
  }
}

function plainSlot(slot: unknown): unknown {
  if (slot === undefined) return 'absent';
  if (typeof slot === 'symbol') return 'tombstone';
  return readStored(slot as StoredValue);
}

describe('review: point reads that stop at the deciding run agree with a read of every run', () => {
  it('random runs, versions, retention and pins; first miss, cached miss and hit', async () => {
    let checked = 0;
    for (let seed = 1; seed <= 1500; seed++) {
      const random = generator(seed);
      const layers = randomRuns(random);
      const asynchronousRun = random(3) === 0 ? random(layers.length) : -1;
      const maxVersionsPerKey = 1 + random(3);
      const highest = Math.max(1, ...layers.flat().map((entry) => entry.version));
      const floorVersion = random(3) === 0 ? random(highest) : 0;
      const runs = layers.map((entries, index) => fakeRun(entries, index === asynchronousRun));
      const view = new ReadView([], runs, maxVersionsPerKey, [{}], new PointCache(1024 * 1024), new StorageMetrics(), new RetentionFloor(floorVersion));
      for (let read = 0; read < 6; read++) {
        const key = KEYS[random(KEYS.length)]!;
        const version = floorVersion + random(highest + 4 - floorVersion);
        const referenceVersion = random(4) === 0 ? version + random(10) : version;
        const pinFloor = random(2) === 0 ? Infinity : random(highest + 2);
        const request: ReadRequest = { version, referenceVersion, pinFloor };
        const histories = layers.map((entries) => ({ entries: entries.filter((entry) => entry.key === key) }));
        const expected = answerOf(() => resolveSlot(histories, { version, referenceVersion, pinFloor, maxVersionsPerKey }));
        for (let repeat = 0; repeat < 3; repeat++) {
          const context = { seed, read, repeat, key, request, maxVersionsPerKey, floorVersion, layers: JSON.stringify(layers) };
          expect({ answer: await answerOf(() => view.slotAsOf(key, request)), context }).toEqual({ answer: expected, context });
          checked++;
        }
      }
    }
    expect(checked).toBe(1500 * 6 * 3);
  });
});

describe('review: the first miss and the cached read agree when a NOT_RETAINED marker is the newest entry', () => {
  it('a run whose newest entry of the key is a marker: every read of it is refused, first miss included', async () => {
    // The flusher and compaction always write a marker below a newer entry of the key;
    // a run left with only the marker (its newer entries' block dropped by a repair)
    // must still read the same on the early-exit path (#fromEntries) as on the cached
    // path (#fromPoint), which resolves the marker to VersionNotRetainedError.
    const layers: RunEntry[][] = [
      [{ key: 'b', version: 20, value: prepareValue('b20', 1024).encoded }],
      [{ key: 'a', version: 5, value: MARKER }],
      [{ key: 'a', version: 2, value: prepareValue('a2', 1024).encoded }],
    ];
    const view = new ReadView([], layers.map((entries) => fakeRun(entries, false)), 2, [{}], new PointCache(1024 * 1024), new StorageMetrics());
    const request: ReadRequest = { version: 30, referenceVersion: 30, pinFloor: Infinity };
    const expected = answerOf(() => resolveSlot(layers.map((entries) => ({ entries: entries.filter((entry) => entry.key === 'a') })), { ...request, maxVersionsPerKey: 2 }));
    expect(expected).toBe('error:LADYBUG_VERSION_NOT_RETAINED');
    const answers = [];
    for (let read = 0; read < 3; read++) answers.push(await answerOf(() => view.slotAsOf('a', request)));
    expect(answers).toEqual([expected, expected, expected]);
  });
});
