/**
 * src/memory/memory-index.ts: apply, point and as-of reads, chunked scans in both
 * directions with every combination of bounds, stats and verify.
 *
 * Scans are checked against a brute-force filter of a plain model, for every
 * combination of lower bound (none/gt/gte), upper bound (none/lt/lte), direction,
 * chunk size (to exercise cursors) and as-of version.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internalKey } from '../src/codec/keys.js';
import { AssertionFailedError, VersionNotRetainedError } from '../src/errors.js';
import { MEMORY_BYTES_PER_KEY } from '../src/limits.js';
import { oneByteStringSizeBytes, storedSizeBytes } from '../src/codec/value-memory-size.js';
import { MEMORY_BYTES_KEY_COLUMNS } from '../src/memory/memory-estimate.js';
import { type KeyRange, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../src/memory/version-chain.js';

type Operation = [key: string, slot: VersionSlot];

function applyAll(index: MemoryIndex, commits: Operation[][], pinned = Infinity): void {
  for (const operations of commits) {
    index.apply(index.appliedVersion + 1, operations.map(([key, slot]) => ({ key, slot })), pinned);
  }
}

/** Reads a whole scan by chunks of `chunkSize`, following the cursor as store.scan does. */
function scanAll(index: MemoryIndex, range: KeyRange, version: number, reverse: boolean, chunkSize: number, limit = Infinity): Array<[string, unknown]> {
  const result: Array<[string, unknown]> = [];
  let cursor: string | undefined;
  while (result.length < limit) {
    const wanted = Math.min(chunkSize, limit - result.length);
    const chunk = index.scanChunk(range, cursor, version, reverse, wanted);
    expect(chunk.length).toBeLessThanOrEqual(wanted);
    result.push(...chunk);
    if (chunk.length < wanted) break;
    cursor = chunk[chunk.length - 1]![0];
  }
  return result;
}

function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && !(key > range.gt)) return false;
  if (range.gte !== undefined && !(key >= range.gte)) return false;
  if (range.lt !== undefined && !(key < range.lt)) return false;
  if (range.lte !== undefined && !(key <= range.lte)) return false;
  return true;
}

describe('apply and point reads', () => {
  it('applies puts and deletes, answering as of every version', () => {
    const index = new MemoryIndex(Infinity);
    applyAll(index, [
      [['a', 1]],
      [['b', 'x'], ['a', 2]],
      [['a', TOMBSTONE]],
      [['a', 3]],
    ]);
    expect(index.appliedVersion).toBe(4);
    expect([0, 1, 2, 3, 4].map((version) => index.slotAsOf('a', version))).toEqual([undefined, 1, 2, TOMBSTONE, 3]);
    expect([0, 1, 2, 3, 4].map((version) => index.slotAsOf('b', version))).toEqual([undefined, undefined, 'x', 'x', 'x']);
    expect(index.slotAsOf('missing', 4)).toBeUndefined();
    expect(index.chain('a')!.versions).toEqual([1, 2, 3, 4]);
    index.verify();
  });

  it('refuses to apply a version at or below the applied one, changing nothing', () => {
    const index = new MemoryIndex(Infinity);
    applyAll(index, [[['a', 1]]]);
    expect(() => index.apply(1, [{ key: 'a', slot: 2 }], Infinity)).toThrow(AssertionFailedError);
    expect(() => index.apply(0, [{ key: 'b', slot: 2 }], Infinity)).toThrow(AssertionFailedError);
    expect(index.slotAsOf('a', 10)).toBe(1);
    expect(index.chain('b')).toBeUndefined();
    index.verify();
  });

  it('accepts gaps in the version sequence (a commit refused for disk full)', () => {
    const index = new MemoryIndex(Infinity);
    index.apply(1, [{ key: 'a', slot: 1 }], Infinity);
    index.apply(5, [{ key: 'a', slot: 5 }], Infinity);
    expect(index.appliedVersion).toBe(5);
    expect(index.slotAsOf('a', 4)).toBe(1);
    expect(index.slotAsOf('a', 5)).toBe(5);
  });

  it('a delete of a key that never existed keeps a tombstone chain and no live key', () => {
    const index = new MemoryIndex(Infinity);
    applyAll(index, [[['ghost', TOMBSTONE]]]);
    expect(index.slotAsOf('ghost', 1)).toBe(TOMBSTONE);
    expect(index.stats()).toMatchObject({ keys: 1, liveKeys: 0, versions: 1 });
    expect(index.scanChunk({}, undefined, 1, false, 10)).toEqual([]);
    index.verify();
  });
});

describe('retention', () => {
  it('trims to maxVersionsPerKey, counts reclaimed versions and answers VersionNotRetainedError below', () => {
    const index = new MemoryIndex(2);
    applyAll(index, [[['k', 'v1']], [['k', 'v2']], [['k', 'v3']], [['other', 'o']], [['k', TOMBSTONE]]]);
    expect(index.chain('k')!.versions).toEqual([3, 5]);
    expect(index.stats()).toMatchObject({ keys: 2, liveKeys: 1, versions: 3, reclaimedVersions: 2 });
    expect(index.slotAsOf('k', 4)).toBe('v3');
    expect(index.slotAsOf('k', 5)).toBe(TOMBSTONE);
    expect(() => index.slotAsOf('k', 2)).toThrow(VersionNotRetainedError);
    index.verify();
  });

  it('spares the entry visible at the pinned version, and trims it on a later apply once unpinned', () => {
    const index = new MemoryIndex(1);
    applyAll(index, [[['k', 'v1']], [['j', 'j1']]]);
    // A reader pinned at version 2 sees k = v1.
    applyAll(index, [[['k', 'v3']], [['k', 'v4']]], 2);
    expect(index.chain('k')!.versions).toEqual([1, 3, 4]);
    expect(index.slotAsOf('k', 2)).toBe('v1');
    expect(index.stats().reclaimedVersions).toBe(0);
    // Pinned at 3: v1 may go; v3 (visible at the pin) and everything newer stay.
    applyAll(index, [[['k', 'v5']]], 3);
    expect(index.chain('k')!.versions).toEqual([3, 4, 5]);
    expect(index.slotAsOf('k', 3)).toBe('v3');
    // Unpinned: trimmed to one version.
    applyAll(index, [[['k', 'v6']]]);
    expect(index.chain('k')!.versions).toEqual([6]);
    expect(index.stats()).toMatchObject({ versions: 2, reclaimedVersions: 4 });
    index.verify();
  });
});

describe('stats', () => {
  it('counts keys, live keys, versions and memory bytes, and memory returns to the per-key cost after trimming', () => {
    const index = new MemoryIndex(1);
    expect(index.stats()).toEqual({ keys: 0, liveKeys: 0, versions: 0, reclaimedVersions: 0, memoryBytes: 0 });
    applyAll(index, [[['ab', 'xyz']]]);
    // Per key: the fixed cost and the key string; per version: the value (see src/limits.ts).
    const oneVersion = MEMORY_BYTES_PER_KEY + oneByteStringSizeBytes(2) + storedSizeBytes('xyz');
    expect(index.stats().memoryBytes).toBe(oneVersion);
    applyAll(index, [[['ab', 'q']]]);
    // 'xyz' was reclaimed: only the key and the version holding 'q' remain (the older-version arrays are gone),
    // the key now in the Map: its column slots too (src/memory/key-entries.ts).
    expect(index.stats().memoryBytes).toBe(MEMORY_BYTES_PER_KEY + MEMORY_BYTES_KEY_COLUMNS + oneByteStringSizeBytes(2) + storedSizeBytes('q'));
    applyAll(index, [[['ab', TOMBSTONE]], [['cd', 1]], [['ab', 7]]]);
    expect(index.stats()).toMatchObject({ keys: 2, liveKeys: 2, versions: 2, reclaimedVersions: 3 });
  });

  it('stays consistent with verify() under random workloads with retention and pins', () => {
    const operation = fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.oneof(fc.integer(), fc.constant(TOMBSTONE)));
    fc.assert(
      fc.property(
        fc.array(fc.array(operation, { minLength: 1, maxLength: 3 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 3 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 20 })),
        (commits, keep, pinned) => {
          const index = new MemoryIndex(keep);
          let live = new Map<string, unknown>();
          const history: Array<Map<string, unknown>> = [new Map()];
          for (const commit of commits) {
            // One operation per key per commit, as prepareBatch guarantees.
            const byKey = new Map(commit);
            index.apply(index.appliedVersion + 1, [...byKey].map(([key, slot]) => ({ key, slot })), pinned);
            live = new Map(live);
            for (const [key, slot] of byKey) {
              if (slot === TOMBSTONE) live.delete(key);
              else live.set(key, slot);
            }
            history.push(live);
          }
          index.verify();
          const stats = index.stats();
          expect(stats.liveKeys).toBe(live.size);
          expect(index.scanChunk({}, undefined, index.appliedVersion, false, 100).map(([key, value]) => [key, value])).toEqual(
            [...live].sort(([left], [right]) => (left < right ? -1 : 1)),
          );
          // The pinned version's view survives every trim.
          if (pinned !== Infinity && pinned <= index.appliedVersion) {
            const expected = [...history[pinned]!].sort(([left], [right]) => (left < right ? -1 : 1));
            expect(index.scanChunk({}, undefined, pinned, false, 100)).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('scanChunk', () => {
  // Keys with gaps between them, so bounds can fall on a key or between keys.
  const keys = ['b', 'd', 'f', 'h', 'j', 'l', 'n', 'p'];
  const boundCandidates = ['a', 'b', 'c', 'd', 'h', 'i', 'p', 'q', 'z'];

  function buildIndex(): MemoryIndex {
    const index = new MemoryIndex(Infinity);
    // v1..v8: each key written; v9: 'f' deleted; v10: 'j' rewritten; v11: 'n' deleted.
    applyAll(index, keys.map((key) => [[key, `${key}1`]]));
    applyAll(index, [[['f', TOMBSTONE]], [['j', 'j2']], [['n', TOMBSTONE]]]);
    return index;
  }

  function expected(version: number, range: KeyRange, reverse: boolean): Array<[string, unknown]> {
    const state = new Map<string, unknown>();
    keys.forEach((key, position) => {
      if (position + 1 <= version) state.set(key, `${key}1`);
    });
    if (version >= 9) state.delete('f');
    if (version >= 10) state.set('j', 'j2');
    if (version >= 11) state.delete('n');
    const entries = [...state].filter(([key]) => inRange(key, range)).sort(([left], [right]) => (left < right ? -1 : 1));
    return reverse ? entries.reverse() : entries;
  }

  it('matches a brute-force filter for every bound combination, direction, chunk size and version', () => {
    const index = buildIndex();
    const lowers: Array<KeyRange> = [{}, ...boundCandidates.flatMap((key) => [{ gt: key }, { gte: key }])];
    const uppers: Array<KeyRange> = [{}, ...boundCandidates.flatMap((key) => [{ lt: key }, { lte: key }])];
    let checked = 0;
    for (const lower of lowers) {
      for (const upper of uppers) {
        const range = { ...lower, ...upper };
        for (const reverse of [false, true]) {
          for (const version of [0, 3, 8, 9, 10, 11]) {
            const want = expected(version, range, reverse);
            for (const chunkSize of [1, 2, 3, 100]) {
              expect(scanAll(index, range, version, reverse, chunkSize)).toEqual(want);
              checked++;
            }
            expect(scanAll(index, range, version, reverse, 2, 1)).toEqual(want.slice(0, 1));
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(8000);
  });

  it('skips tombstones and keys that did not exist yet, counting only live entries towards maxCount', () => {
    const index = buildIndex();
    // Forward from 'e': f is deleted at 11, so the first two live entries are h and j.
    expect(index.scanChunk({ gte: 'e' }, undefined, 11, false, 2)).toEqual([['h', 'h1'], ['j', 'j2']]);
    expect(index.scanChunk({ lte: 'o' }, undefined, 11, true, 2)).toEqual([['l', 'l1'], ['j', 'j2']]);
    expect(index.scanChunk({}, undefined, 2, false, 10)).toEqual([['b', 'b1'], ['d', 'd1']]);
  });

  it('continues strictly after the cursor forward and strictly before it in reverse', () => {
    const index = buildIndex();
    expect(index.scanChunk({}, 'h', 11, false, 2)).toEqual([['j', 'j2'], ['l', 'l1']]);
    expect(index.scanChunk({}, 'h', 11, true, 2)).toEqual([['d', 'd1'], ['b', 'b1']]);
    // A cursor that is not a key (it was the last key of a chunk, then e.g. never existed at that version).
    expect(index.scanChunk({}, 'i', 11, false, 1)).toEqual([['j', 'j2']]);
    expect(index.scanChunk({}, 'i', 11, true, 1)).toEqual([['h', 'h1']]);
    // The cursor still respects the far bound.
    expect(index.scanChunk({ lt: 'l' }, 'h', 11, false, 10)).toEqual([['j', 'j2']]);
    expect(index.scanChunk({ gte: 'd' }, 'h', 11, true, 10)).toEqual([['d', 'd1']]);
  });

  it('answers empty for empty or inverted ranges', () => {
    const index = buildIndex();
    expect(index.scanChunk({ gt: 'p' }, undefined, 11, false, 10)).toEqual([]);
    expect(index.scanChunk({ lt: 'b' }, undefined, 11, true, 10)).toEqual([]);
    expect(index.scanChunk({ gte: 'k', lt: 'c' }, undefined, 11, false, 10)).toEqual([]);
    expect(index.scanChunk({ gte: 'k', lt: 'c' }, undefined, 11, true, 10)).toEqual([]);
    expect(index.scanChunk({ gt: 'h', lt: 'i' }, undefined, 11, false, 10)).toEqual([]);
    expect(index.scanChunk({ gte: 'h', lte: 'h' }, undefined, 11, true, 10)).toEqual([['h', 'h1']]);
    expect(new MemoryIndex(Infinity).scanChunk({}, undefined, 0, true, 10)).toEqual([]);
  });

  it('orders non-ASCII internal keys by UTF-8 bytes', () => {
    const index = new MemoryIndex(Infinity);
    const texts = ['\u{1F600}', '\uFFFF', 'z', '\uE000', '\u00e9', '\u{10000}'];
    applyAll(index, [texts.map((text) => [internalKey(text), text])]);
    const forward = index.scanChunk({}, undefined, 1, false, 10).map(([, value]) => value);
    expect(forward).toEqual(['z', '\u00e9', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}']);
    const bounded = index.scanChunk({ gt: internalKey('\uFFFF') }, undefined, 1, false, 10).map(([, value]) => value);
    expect(bounded).toEqual(['\u{10000}', '\u{1F600}']);
    const reverse = index.scanChunk({ lt: internalKey('\u{10000}') }, undefined, 1, true, 10).map(([, value]) => value);
    expect(reverse).toEqual(['\uFFFF', '\uE000', '\u00e9', 'z']);
  });

  it('throws VersionNotRetainedError when an as-of scan needs a reclaimed version', () => {
    const index = new MemoryIndex(1);
    applyAll(index, [[['a', 1]], [['a', 2]]]);
    expect(index.scanChunk({}, undefined, 2, false, 10)).toEqual([['a', 2]]);
    expect(() => index.scanChunk({}, undefined, 1, false, 10)).toThrow(VersionNotRetainedError);
  });
});
