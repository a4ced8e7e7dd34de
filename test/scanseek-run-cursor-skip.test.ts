/**
 * RunCursor.skipKey over a run of several index partitions whose keys hold from one to
 * thousands of versions (a key over ~75 blocks, keys ending at a partition's end): a
 * walk that skips keys at seeded places sees exactly the model's entries (a skip goes
 * on at the next key's newest entry), forward and reverse, over several ranges, with
 * the blocks cached and with a cache too small to keep them (every block read from the
 * file). A walk that skips every key after its newest entry looks at a few blocks per key.
 * RunCursor.seekVersion lands inside the key at or before its last entry above the
 * version (never past it, never back), passing over most entries of the long keys.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import type { KeyRange } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { RunCursor } from '../src/run/run-cursor.js';
import { loadHash64 } from '../src/codec/checksum.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { modelScan, plain, runOrder, writeAndOpen, type PlainEntry } from './run-helpers.js';
import { mulberry32 } from './support/seeded-random.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Versions per key: single ones, a few, and keys spanning tens of blocks. */
const VERSION_COUNTS = [1, 3000, 2, 1, 120, 1, 40, 2500, 1, 7, 1, 900, 3, 1, 1, 1800, 1, 60, 5, 1];

function entries(): RunEntry[] {
  const result: RunEntry[] = [];
  let version = 1;
  VERSION_COUNTS.forEach((count, index) => {
    const key = `key-${String(index).padStart(3, '0')}`;
    for (let at = 0; at < count; at++) {
      // Every 11th version a tombstone; values of ~100 bytes: ~35 entries per 4 KiB block.
      const value = at % 11 === 10 ? undefined : Buffer.alloc(90 + (at % 17), (index * 31 + at) % 251);
      result.push({ key, version: version++, value });
    }
  });
  return runOrder(result);
}

/** The walk: at each entry, skip the rest of its key with probability `skipChance`, else advance. */
async function walk(cursor: RunCursor, skipChance: number, seed: number): Promise<PlainEntry[]> {
  const next = mulberry32(seed);
  const seen: PlainEntry[] = [];
  while (cursor.current !== undefined) {
    seen.push(plain(cursor.current));
    const pending = next() < skipChance ? cursor.skipKey() : cursor.advance();
    if (pending !== undefined) await pending;
  }
  cursor.close();
  return seen;
}

/** The same walk over the model's scan order (keys grouped, each key's versions newest first). */
function modelWalk(order: PlainEntry[], skipChance: number, seed: number): PlainEntry[] {
  const next = mulberry32(seed);
  const seen: PlainEntry[] = [];
  let position = 0;
  while (position < order.length) {
    const entry = order[position]!;
    seen.push(entry);
    if (next() < skipChance) {
      while (position < order.length && order[position]!.key === entry.key) position++;
    } else {
      position++;
    }
  }
  return seen;
}

const RANGES: KeyRange[] = [
  {},
  { gte: 'key-001' },
  { gt: 'key-001', lte: 'key-011' },
  { gte: 'key-004', lt: 'key-008' },
  { lte: 'key-007' },
  { gte: 'key-007', lte: 'key-007' },
  { gt: 'key-015' },
];

describe('RunCursor.skipKey', () => {
  it('a walk skipping keys at seeded places sees the model walk, forward and reverse, cached or not', async () => {
    const sorted = entries();
    for (const cacheBytes of [16 * 1024 * 1024, 8 * 1024]) {
      const { reader } = await writeAndOpen(hash, sorted, { cacheBytes });
      expect(reader.partitionCount, 'the run spans several index partitions').toBeGreaterThan(1);
      for (const range of RANGES) {
        for (const reverse of [false, true]) {
          const order = modelScan(sorted, range, reverse);
          for (const [seed, skipChance] of [[1, 0], [2, 1], [3, 0.01], [4, 0.2], [5, 0.6]] as const) {
            const what = `range ${JSON.stringify(range)}, reverse ${reverse}, skip chance ${skipChance}, cache ${cacheBytes}`;
            const seen = await walk(await reader.cursor(range, reverse), skipChance, seed);
            const expected = modelWalk(order, skipChance, seed);
            expect(seen.length, what).toBe(expected.length);
            expect(seen, what).toEqual(expected);
          }
        }
      }
      await reader.close();
    }
  }, 30_000);

  it('skipping every key after its newest entry reads a few blocks per key, not each of its blocks', async () => {
    const sorted = entries();
    const { reader, cache } = await writeAndOpen(hash, sorted, { cacheBytes: 8 * 1024 });
    const blocks = reader.blockCount;
    for (const reverse of [false, true]) {
      const before = cache.stats().hits + cache.stats().misses;
      const seen = await walk(await reader.cursor({}, reverse), 1, 1);
      const keys = VERSION_COUNTS.length;
      expect(seen.map((entry) => entry.key)).toEqual(VERSION_COUNTS.map((_, index) => `key-${String(index).padStart(3, '0')}`)[reverse ? 'reverse' : 'slice']());
      // Each key's newest entry is its first in file order: exactly that version.
      for (const entry of seen) expect(entry).toEqual(modelScan(sorted, { gte: entry.key, lte: entry.key }, false)[0]);
      const looked = cache.stats().hits + cache.stats().misses - before;
      // Walking every block looked at all of them; a skip looks at the key's first block and the next key's
      // (reverse, the one where it met the key too): measured 10 forward, 12 reverse, for 20 keys over 222 blocks.
      expect(looked, `blocks looked at, of ${blocks}, reverse ${reverse}`).toBeLessThanOrEqual(keys);
      expect(blocks).toBeGreaterThan(10 * keys);
    }
    await reader.close();
  });

  it('seekVersion moves inside the key to at most its last entry above the version, never past it, reading a few blocks', async () => {
    const sorted = entries();
    for (const cacheBytes of [16 * 1024 * 1024, 8 * 1024]) {
      const { reader, cache } = await writeAndOpen(hash, sorted, { cacheBytes });
      for (const reverse of [false, true]) {
        const order = modelScan(sorted, {}, reverse);
        const place = new Map(order.map((entry, position) => [`${entry.key}@${entry.version}`, position]));
        const next = mulberry32(reverse ? 7 : 8);
        const cursor = await reader.cursor({}, reverse);
        let position = 0;
        let seeks = 0;
        let skippedEntries = 0;
        const before = cache.stats().hits + cache.stats().misses;
        while (cursor.current !== undefined) {
          expect(plain(cursor.current), `entry ${position}, reverse ${reverse}`).toEqual(order[position]);
          const entry = order[position]!;
          const key = entry.key;
          // The key's entries from here on, newest first.
          let end = position;
          while (end < order.length && order[end]!.key === key) end++;
          // At a key's newest entry: seek to a version among its entries (or below them), then take the entry below it and skip the key.
          if (position === 0 || order[position - 1]!.key !== key) {
            const oldest = order[end - 1]!.version;
            const version = oldest - 1 + Math.floor(next() * (entry.version - oldest + 2));
            const pending = cursor.seekVersion(version);
            if (pending !== undefined) await pending;
            seeks++;
            const landed = place.get(`${cursor.current!.key}@${cursor.current!.version}`)!;
            // The last entry above the version, or none.
            let lastAbove = position - 1;
            while (lastAbove + 1 < end && order[lastAbove + 1]!.version > version) lastAbove++;
            if (lastAbove < position) expect(landed, 'stays at an entry at or below the version').toBe(position);
            else {
              expect(landed, 'never moves back').toBeGreaterThanOrEqual(position);
              expect(landed, `never past the last entry above ${version}`).toBeLessThanOrEqual(lastAbove);
            }
            skippedEntries += landed - position;
            position = landed;
            // Walk down to the first entry at or below the version, then skip the key.
            while (cursor.current !== undefined && cursor.current.key === key && cursor.current.version > version) {
              expect(plain(cursor.current)).toEqual(order[position]);
              const moved = cursor.advance();
              if (moved !== undefined) await moved;
              position++;
            }
            if (cursor.current !== undefined && cursor.current.key === key) {
              expect(plain(cursor.current)).toEqual(order[position]);
              const skipped = cursor.skipKey();
              if (skipped !== undefined) await skipped;
            }
            position = end;
            continue;
          }
          const moved = cursor.advance();
          if (moved !== undefined) await moved;
          position++;
        }
        expect(position).toBe(order.length);
        expect(seeks).toBe(VERSION_COUNTS.length);
        // The keys of thousands of versions: most of their entries above the version were passed over unread
        // (measured 4,707 forward, 4,150 reverse, of 8,446), and their blocks (measured 28 and 30 looked at, of 222:
        // the search's few per key, the block or two down to the answer, the next key's).
        expect(skippedEntries, `entries passed over, reverse ${reverse}`).toBeGreaterThan(sorted.length / 4);
        const looked = cache.stats().hits + cache.stats().misses - before;
        expect(looked, `blocks looked at, of ${reader.blockCount}, reverse ${reverse}`).toBeLessThanOrEqual(2 * VERSION_COUNTS.length);
      }
      await reader.close();
    }
  });
});
