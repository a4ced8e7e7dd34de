/**
 * Review of 5539b72 (MemoryIndex: a scan inside the reserved key prefix reads the tree
 * alone when no waiting key is reserved; KeyOrder#waitingReservedKeys counts them). Random
 * applies of keys just inside, at and just outside the prefix's bounds, interleaved
 * with forward and reverse scans and chainsChunk over ranges inside the prefix, ending
 * exactly at its end, crossing either bound, and wholly outside it, with the flush's
 * sort of the waiting keys (orderedKeysAndChains) and debug verify (which checks the
 * count) in between: every answer equals a plain Map model's, before and after a
 * memtable is sorted for a flush.
 */
import { describe, expect, it } from 'vitest';
import { RESERVED_KEY_PREFIX } from '../src/lease/reserved-prefix.js';
import { MemoryIndex, type KeyRange } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { SeededRandom } from '../src/harness/seeded-random.js';

const PREFIX_END = '\u0000ladybug0';
/** Keys around the prefix's two bounds, and ordinary ones. */
const KEYS = [
  '', '\u0000', '\u0000ladybug', '\u0000ladybug.', '\u0000ladybug.zzz', RESERVED_KEY_PREFIX, `${RESERVED_KEY_PREFIX}a`, `${RESERVED_KEY_PREFIX}lease/x`,
  `${RESERVED_KEY_PREFIX}lease/y`, `${RESERVED_KEY_PREFIX}\u00ff`, PREFIX_END, `${PREFIX_END}a`, '\u0001', 'a', 'ladybug/', 'z',
];
const RANGES: KeyRange[] = [
  { gte: RESERVED_KEY_PREFIX, lt: PREFIX_END },
  { gt: RESERVED_KEY_PREFIX, lt: PREFIX_END },
  { gte: RESERVED_KEY_PREFIX, lte: `${RESERVED_KEY_PREFIX}lease/x` },
  { gte: `${RESERVED_KEY_PREFIX}lease/`, lt: `${RESERVED_KEY_PREFIX}lease0` },
  { gte: `${RESERVED_KEY_PREFIX}b`, lt: `${RESERVED_KEY_PREFIX}a` }, // empty
  { gte: '\u0000ladybug.', lt: PREFIX_END }, // crosses the lower bound
  { gte: RESERVED_KEY_PREFIX, lte: PREFIX_END }, // holds the first key past the prefix
  { gte: RESERVED_KEY_PREFIX }, // no upper bound
  { lt: PREFIX_END },
  { gte: 'a', lt: 'zz' },
  {},
];

function inRange(key: string, range: KeyRange): boolean {
  if (range.gte !== undefined && key < range.gte) return false;
  if (range.gt !== undefined && key <= range.gt) return false;
  if (range.lt !== undefined && key >= range.lt) return false;
  if (range.lte !== undefined && key > range.lte) return false;
  return true;
}

describe('review read16: reserved-prefix scans of a memtable with waiting keys', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`answers as the model does (seed ${seed})`, () => {
      const random = new SeededRandom(seed);
      const index = new MemoryIndex(8);
      const model = new Map<string, string | undefined>();
      let version = 0;
      for (let step = 0; step < 400; step++) {
        const choice = random.nextIntInclusive(0, 10 - 1);
        if (choice < 6) {
          // A boundary key itself or a new key beside it (new keys wait outside the tree).
          const base = KEYS[random.nextIntInclusive(0, KEYS.length - 1)]!;
          const key = random.nextIntInclusive(0, 1) === 0 ? base : `${base}${random.nextIntInclusive(0, 99)}`;
          const deleted = random.nextIntInclusive(0, 5 - 1) === 0;
          const value = `v${step}`;
          index.apply(++version, [{ key, slot: deleted ? TOMBSTONE : value }], Infinity);
          model.set(key, deleted ? undefined : value);
        } else if (choice < 9) {
          const range = RANGES[random.nextIntInclusive(0, RANGES.length - 1)]!;
          const reverse = random.nextIntInclusive(0, 2 - 1) === 0;
          const expected = [...model.entries()].filter(([key, value]) => value !== undefined && inRange(key, range)).sort(([left], [right]) => (left < right ? -1 : 1));
          if (reverse) expected.reverse();
          if (random.nextIntInclusive(0, 2 - 1) === 0) {
            expect(index.scanChunk(range, undefined, version, reverse, 1_000), `${step} ${JSON.stringify(range)}`).toEqual(expected);
          } else {
            const keys = index.chainsChunk(range, undefined, reverse, 1_000).map(([key]) => key);
            const expectedKeys = [...model.keys()].filter((key) => inRange(key, range)).sort();
            if (reverse) expectedKeys.reverse();
            expect(keys, `${step} chains ${JSON.stringify(range)}`).toEqual(expectedKeys);
          }
        } else {
          // A flush's look at the order (sorts the waiting keys, or walks the tree), then the debug check.
          const { keys } = index.orderedKeysAndChains();
          expect([...keys]).toEqual([...model.keys()].sort());
          index.verify();
        }
      }
      index.verify();
    });
  }
});
