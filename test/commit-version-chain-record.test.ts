/**
 * VersionChain with its older versions in a record made at the second version (issue
 * 12: a one-version key is a 48 B object the scavenger copies, not 72 B). Checked:
 * firstVersion and trimmedBelow before any older version, after one, after a trim
 * that took every older version (the record stays, its arrays become shared empty
 * ones), and that appending after such a trim starts fresh arrays: two chains trimmed
 * to one version and appended again never share what they hold.
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { TOMBSTONE, VersionChain } from '../src/memory/version-chain.js';

describe('VersionChain older-versions record', () => {
  it('keeps firstVersion and trimmedBelow through a full trim, and appends again to fresh arrays', () => {
    const left = new VersionChain(3, 'a');
    expect([left.firstVersion, left.trimmedBelow, left.length]).toEqual([3, 0, 1]);
    left.append(5, 'b');
    left.append(8, TOMBSTONE);
    expect([left.firstVersion, left.trimmedBelow, left.length]).toEqual([3, 0, 3]);
    expect(left.trim(1, Infinity)).toEqual(['a', 'b']);
    expect([left.firstVersion, left.trimmedBelow, left.length]).toEqual([3, 8, 1]);
    expect(() => left.slotAsOf(6)).toThrow(VersionNotRetainedError);
    expect(left.slotAsOf(2)).toBeUndefined(); // before the key existed: absent, not reclaimed
    left.verify();

    const right = new VersionChain(4, 'x');
    right.append(6, 'y');
    right.trim(1, Infinity);
    // Both now hold the shared empty arrays: an append must not write into them.
    left.append(9, 'c');
    right.append(10, 'z');
    expect(left.versions).toEqual([8, 9]);
    expect(left.values).toEqual([TOMBSTONE, 'c']);
    expect(right.versions).toEqual([6, 10]);
    expect(right.values).toEqual(['y', 'z']);
    expect([left.firstVersion, left.trimmedBelow, right.firstVersion, right.trimmedBelow]).toEqual([3, 8, 4, 6]);
    expect(left.slotAsOf(8)).toBe(TOMBSTONE);
    expect(right.slotAsOf(7)).toBe('y');
    left.verify();
    right.verify();
    // A trim that spares the pinned entry keeps the arrays.
    left.append(12, 'd');
    expect(left.trim(1, 9)).toEqual([TOMBSTONE]);
    expect([left.versions, left.trimmedBelow]).toEqual([[9, 12], 9]);
    left.verify();
  });
});
