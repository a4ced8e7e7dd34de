/**
 * src/memory/version-chain.ts: one key's history, as-of lookup and retention trimming.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AssertionFailedError, ErrorCode, VersionNotRetainedError } from '../src/errors.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from '../src/memory/version-chain.js';

function chainOf(entries: Array<[number, VersionSlot]>): VersionChain {
  const [first, ...rest] = entries;
  const chain = new VersionChain(first![0], first![1]);
  for (const [version, slot] of rest) chain.append(version, slot);
  return chain;
}

function notRetained(action: () => unknown): VersionNotRetainedError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(VersionNotRetainedError);
    return error as VersionNotRetainedError;
  }
  throw new Error('expected VersionNotRetainedError');
}

describe('slotAsOf', () => {
  const chain = chainOf([[3, 'a'], [5, 'b'], [8, TOMBSTONE], [12, 'c']]);

  it('answers the newest entry at or below the version', () => {
    expect(chain.slotAsOf(3)).toBe('a');
    expect(chain.slotAsOf(4)).toBe('a');
    expect(chain.slotAsOf(5)).toBe('b');
    expect(chain.slotAsOf(7)).toBe('b');
    expect(chain.slotAsOf(8)).toBe(TOMBSTONE);
    expect(chain.slotAsOf(11)).toBe(TOMBSTONE);
    expect(chain.slotAsOf(12)).toBe('c');
    expect(chain.slotAsOf(1_000_000)).toBe('c');
  });

  it('answers undefined before the first version (the key did not exist yet)', () => {
    expect(chain.slotAsOf(2)).toBeUndefined();
    expect(chain.slotAsOf(0)).toBeUndefined();
  });

  it('exposes newest, newestVersion and length', () => {
    expect(chain.newest).toBe('c');
    expect(chain.newestVersion).toBe(12);
    expect(chain.length).toBe(4);
    expect(chain.trimmedBelow).toBe(0);
  });

  it('agrees with a linear scan for random chains and versions', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 220 }), (raw, asked) => {
        const versions = [...raw].sort((left, right) => left - right);
        const test = chainOf(versions.map((version) => [version, `v${version}`]));
        const expected = versions.filter((version) => version <= asked).at(-1);
        expect(test.slotAsOf(asked)).toBe(expected === undefined ? undefined : `v${expected}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('append', () => {
  it('refuses a version that is not above the newest (AssertionFailedError)', () => {
    const chain = chainOf([[4, 'a']]);
    expect(() => chain.append(4, 'b')).toThrow(AssertionFailedError);
    expect(() => chain.append(2, 'b')).toThrow(AssertionFailedError);
    expect(chain.length).toBe(1);
  });
});

describe('trim', () => {
  it('keeps the newest keepCount versions when nothing is pinned', () => {
    const chain = chainOf([[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']]);
    expect(chain.trim(2, Infinity)).toEqual(['a', 'b', 'c']);
    expect(chain.versions).toEqual([4, 5]);
    expect(chain.values).toEqual(['d', 'e']);
    expect(chain.trimmedBelow).toBe(4);
    chain.verify();
  });

  it('is a no-op when the chain is within keepCount', () => {
    const chain = chainOf([[1, 'a'], [2, 'b']]);
    expect(chain.trim(2, Infinity)).toEqual([]);
    expect(chain.trim(5, Infinity)).toEqual([]);
    expect(chainOf([[7, 'x']]).trim(1, Infinity)).toEqual([]);
    expect(chain.trimmedBelow).toBe(0);
    expect(chain.slotAsOf(0)).toBeUndefined();
  });

  it('never drops the entry visible at the pinned version, nor anything newer', () => {
    const chain = chainOf([[1, 'a'], [3, 'b'], [5, 'c'], [7, 'd'], [9, 'e']]);
    // Pinned at 4: the reader sees version 3 ('b'); 1 may go, 3 must stay.
    expect(chain.trim(1, 4)).toEqual(['a']);
    expect(chain.versions).toEqual([3, 5, 7, 9]);
    expect(chain.slotAsOf(4)).toBe('b');
    // Pinned exactly at 5: 3 may go now.
    expect(chain.trim(1, 5)).toEqual(['b']);
    expect(chain.versions).toEqual([5, 7, 9]);
    expect(chain.slotAsOf(5)).toBe('c');
    expect(chain.slotAsOf(6)).toBe('c');
  });

  it('drops nothing while the pinned version is older than the whole chain', () => {
    const chain = chainOf([[10, 'a'], [11, 'b'], [12, 'c']]);
    expect(chain.trim(1, 5)).toEqual([]);
    expect(chain.slotAsOf(5)).toBeUndefined();
    expect(chain.trimmedBelow).toBe(0);
  });

  it('after trimming, reads older than the oldest retained throw VersionNotRetainedError', () => {
    const chain = chainOf([[2, 'a'], [4, 'b'], [6, TOMBSTONE], [8, 'c']]);
    chain.trim(2, Infinity);
    expect(chain.slotAsOf(6)).toBe(TOMBSTONE);
    expect(chain.slotAsOf(7)).toBe(TOMBSTONE);
    const error = notRetained(() => chain.slotAsOf(5));
    expect(error.code).toBe(ErrorCode.VersionNotRetained);
    expect(error.version).toBe(5);
    expect(error.oldestRetained).toBe(6);
    // Before the key existed (version 2) the answer is known: absent, not reclaimed.
    expect(chain.slotAsOf(1)).toBeUndefined();
  });

  it('retained reads after random trims agree with the untrimmed chain', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 110 })),
        fc.integer({ min: 0, max: 110 }),
        (raw, keep, pinned, asked) => {
          const versions = [...raw].sort((left, right) => left - right);
          const full = chainOf(versions.map((version) => [version, version]));
          const trimmed = chainOf(versions.map((version) => [version, version]));
          const dropped = trimmed.trim(keep, pinned);
          trimmed.verify();
          expect(dropped.length).toBe(full.length - trimmed.length);
          // The dropped slots are the oldest ones, oldest first.
          expect(dropped).toEqual(versions.slice(0, dropped.length));
          expect(trimmed.versions).toEqual(versions.slice(dropped.length));
          expect(trimmed.length).toBeGreaterThanOrEqual(Math.min(keep, versions.length));
          // The pinned reader still gets its answer.
          if (pinned !== Infinity) expect(trimmed.slotAsOf(pinned)).toBe(full.slotAsOf(pinned));
          let answer: unknown;
          try {
            answer = trimmed.slotAsOf(asked);
          } catch (error) {
            expect(error).toBeInstanceOf(VersionNotRetainedError);
            expect(dropped.length).toBeGreaterThan(0);
            expect(asked).toBeLessThan(trimmed.versions[0]!);
            return;
          }
          expect(answer).toBe(full.slotAsOf(asked));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('verify', () => {
  it('passes on sound chains and detects versions out of order or a wrong trimmedBelow', () => {
    const sound = chainOf([[1, 'a'], [2, 'b'], [3, 'c']]);
    sound.verify();
    sound.trim(1, Infinity);
    sound.verify();
    const unordered = chainOf([[5, 'a'], [6, 'b']]);
    unordered.newestVersion = 4;
    expect(() => unordered.verify()).toThrow(AssertionFailedError);
    const wrongTrim = chainOf([[5, 'a'], [6, 'b']]);
    wrongTrim.trimmedBelow = 3;
    expect(() => wrongTrim.verify()).toThrow(AssertionFailedError);
  });
});

describe('indexed access', () => {
  it('versionAt/slotAt walk oldest to newest and match versions/values', () => {
    const chain = chainOf([[2, 'a'], [4, TOMBSTONE], [9, 'c']]);
    const walked = Array.from({ length: chain.length }, (_, index) => [chain.versionAt(index), chain.slotAt(index)]);
    expect(walked).toEqual([[2, 'a'], [4, TOMBSTONE], [9, 'c']]);
    expect(chain.versions).toEqual([2, 4, 9]);
    expect(chain.values).toEqual(['a', TOMBSTONE, 'c']);
    // versions/values are copies: changing them changes nothing.
    chain.versions.push(100);
    chain.values.pop();
    expect(chain.length).toBe(3);
    chain.trim(1, Infinity);
    expect(chain.length).toBe(1);
    expect([chain.versionAt(0), chain.slotAt(0)]).toEqual([9, 'c']);
    // A chain trimmed to one entry grows again normally.
    chain.append(11, 'd');
    expect(chain.versions).toEqual([9, 11]);
    expect(chain.slotAsOf(10)).toBe('c');
    expect(() => chain.slotAsOf(8)).toThrow(VersionNotRetainedError);
    chain.verify();
  });
});
