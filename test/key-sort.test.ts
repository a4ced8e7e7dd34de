/**
 * sortedKeyOrder (src/memory/key-sort.ts) gives exactly the order of `<` on the keys:
 * random binary keys, keys that are prefixes of others, long shared prefixes, ranges
 * above and below the insertion-sort size, and keys with chars above 255 (the
 * comparison-sort fallback).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ascendingPrefixLength, PREFIX_SORT_KEYS_MIN, RADIX_SMALL_RANGE, sortedKeyOrder } from '../src/memory/key-sort.js';

function expectSameAsLessThan(keys: readonly string[]): void {
  const order = sortedKeyOrder(keys);
  expect(order.length).toBe(keys.length);
  const sorted = Array.from(order, (index) => keys[index]!);
  expect(sorted).toEqual([...keys].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0)));
}

const binaryKey = fc.string({ minLength: 1, maxLength: 6, unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)) });
const narrowKey = fc.string({ minLength: 1, maxLength: 5, unit: fc.constantFrom('\u0000', 'a', 'b', '\u00ff') });

describe('sortedKeyOrder', () => {
  it('orders distinct binary keys as < does', () => {
    fc.assert(fc.property(fc.uniqueArray(binaryKey, { maxLength: 400 }), (keys) => expectSameAsLessThan(keys)), { numRuns: 300 });
  });

  it('orders keys from a small alphabet (prefixes of each other, shared prefixes, deep buckets) as < does', () => {
    fc.assert(fc.property(fc.uniqueArray(narrowKey, { minLength: RADIX_SMALL_RANGE + 1, maxLength: 600 }), fc.string({ maxLength: 40 }), (keys, prefix) => {
      expectSameAsLessThan(keys);
      expectSameAsLessThan(keys.map((key) => `${prefix.replace(/[^\u0000-\u00ff]/g, 'x')}${key}`));
    }), { numRuns: 200 });
  });

  it('falls back to a comparison sort for keys with chars above 255, in the same order', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: RADIX_SMALL_RANGE + 1, maxLength: 300 }), (keys) => expectSameAsLessThan([...keys, 'a\u0100'].filter((key, index, all) => all.indexOf(key) === index))), { numRuns: 100 });
  });

  it('sorts 50,000 random 16-byte keys and 20,000 keys sharing a 12-char prefix', () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
    const random = [...new Set(Array.from({ length: 50_000 }, () => String.fromCharCode(...Array.from({ length: 16 }, next))))];
    expectSameAsLessThan(random);
    expectSameAsLessThan(Array.from({ length: 20_000 }, (_, index) => `user/0000000${(index * 7919) % 20_000}`));
    expectSameAsLessThan([]);
    expectSameAsLessThan(['only']);
  });

  it('orders many keys (the prefix-number path) as < does: random, short, sharing their first chars, and around the prefix length', () => {
    const short = fc.string({ minLength: 0, maxLength: 5, unit: fc.constantFrom('\u0000', '\u0001', 'a', '\u00ff') });
    fc.assert(fc.property(fc.uniqueArray(fc.oneof(binaryKey, short), { minLength: PREFIX_SORT_KEYS_MIN, maxLength: PREFIX_SORT_KEYS_MIN + 500 }), (keys) => {
      expectSameAsLessThan(keys);
      expectSameAsLessThan(keys.map((key) => `ab${key}`));
    }), { numRuns: 30 });
    // A char above 255 read in a run of one prefix number falls back to the comparison sort; one in the prefix too.
    const many = Array.from({ length: PREFIX_SORT_KEYS_MIN + 10 }, (_, index) => `k${(index * 7919) % 5000}`).filter((key, index, all) => all.indexOf(key) === index);
    expectSameAsLessThan([...many, 'kkkk\u0100', 'kkkka']);
    expectSameAsLessThan([...many, 'k\u0100']);
  });

  it('gives ascending keys their own order, and one key out of place anywhere still sorts (the ascending check)', () => {
    const ascending = Array.from({ length: 3_000 }, (_, index) => `\u0000\u0000key${String(index).padStart(6, '0')}`);
    expect(ascendingPrefixLength(ascending)).toBe(ascending.length);
    expect(Array.from(sortedKeyOrder(ascending))).toEqual(ascending.map((_, index) => index));
    fc.assert(fc.property(fc.integer({ min: 0, max: ascending.length - 1 }), fc.integer({ min: 0, max: ascending.length - 1 }), (from, to) => {
      fc.pre(from !== to);
      const moved = [...ascending];
      const [key] = moved.splice(from, 1);
      moved.splice(to, 0, key!);
      expect(ascendingPrefixLength(moved)).toBeLessThan(moved.length);
      expectSameAsLessThan(moved);
    }), { numRuns: 100 });
    expect(ascendingPrefixLength(['b', 'a'])).toBe(1);
    expect(ascendingPrefixLength([])).toBe(0);
  });
});
