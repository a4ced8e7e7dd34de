/**
 * The cross-source resolver (src/engine/resolve.ts) against a plain model: a key's
 * full history split at random points into a memtable chain and run entry lists,
 * with retention applied the way the store defines it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from '../src/memory/version-chain.js';
import { encodeStored } from '../src/codec/values.js';
import { NOT_RETAINED_BYTE, resolveHistory, resolveSlot, type SourceHistory } from '../src/engine/resolve.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

interface Change { version: number; value: number | undefined }

/** Model answer: the entry visible at `version` among all changes, then the retention rule. */
function modelSlot(changes: Change[], version: number, reference: number, keep: number): number | undefined | 'not-retained' {
  const visible = changes.filter((change) => change.version <= reference);
  let found = -1;
  for (let index = visible.length - 1; index >= 0; index--) {
    if (visible[index]!.version <= version) { found = index; break; }
  }
  if (found < 0) return undefined;
  if (visible.length - 1 - found >= keep) return 'not-retained';
  return visible[found]!.value;
}

function slotNumber(slot: VersionSlot | undefined): number | undefined {
  return slot === undefined || slot === TOMBSTONE ? undefined : (slot as number);
}

/** Splits ascending changes into sources, newest first: the newest part in a chain, older parts as runs. */
function sources(changes: Change[], cuts: number[]): SourceHistory[] {
  const bounds = [...new Set(cuts.map((cut) => cut % (changes.length + 1)))].sort((a, b) => a - b);
  const parts: Change[][] = [];
  let start = 0;
  for (const bound of [...bounds, changes.length]) {
    if (bound > start) parts.push(changes.slice(start, bound));
    start = Math.max(start, bound);
  }
  const newestFirst = parts.reverse();
  return newestFirst.map((part, position) => {
    if (position === 0) {
      const chain = new VersionChain(part[0]!.version, part[0]!.value ?? TOMBSTONE);
      for (const change of part.slice(1)) chain.append(change.version, change.value ?? TOMBSTONE);
      return { chain };
    }
    const entries: RunEntry[] = part.slice().reverse().map((change) => ({
      key: 'k', version: change.version, value: change.value === undefined ? undefined : encodeStored(change.value),
    }));
    return { entries };
  });
}

const changesArbitrary = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 12 })
  .chain((versions) => fc.tuple(
    fc.constant(versions.sort((a, b) => a - b)),
    fc.array(fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }), { minLength: versions.length, maxLength: versions.length }),
  ))
  .map(([versions, values]) => versions.map((version, index) => ({ version, value: values[index] })));

describe('resolveSlot and resolveHistory', () => {
  it('agree with the model for every split of a history, read version, reference version and retention', () => {
    fc.assert(fc.property(
      changesArbitrary, fc.array(fc.nat(), { maxLength: 4 }), fc.integer({ min: 0, max: 65 }), fc.integer({ min: 0, max: 65 }), fc.integer({ min: 1, max: 5 }),
      (changes, cuts, version, referenceOffset, keep) => {
        const reference = Math.max(version, referenceOffset);
        const histories = sources(changes, cuts);
        const expected = modelSlot(changes, version, reference, keep);
        const request = { version, referenceVersion: reference, pinFloor: Infinity, maxVersionsPerKey: keep };
        if (expected === 'not-retained') {
          expect(() => resolveSlot(histories, request)).toThrow(VersionNotRetainedError);
        } else {
          expect(slotNumber(resolveSlot(histories, request))).toEqual(expected);
        }
        const history = resolveHistory(histories, version, reference, Infinity, keep, Infinity);
        const retained = changes.filter((change) => change.version <= reference).slice(-keep).filter((change) => change.version <= version).reverse();
        expect(history.map((entry) => [entry.version, slotNumber(entry.slot)])).toEqual(retained.map((change) => [change.version, change.value]));
      },
    ), { numRuns: 2000 });
  });

  it('a NOT_RETAINED marker makes reads at and above its version fail, and reads below it answer absent', () => {
    const run: RunEntry[] = [
      { key: 'k', version: 9, value: encodeStored(3) },
      { key: 'k', version: 5, value: Uint8Array.of(NOT_RETAINED_BYTE) },
    ];
    const request = (version: number) => ({ version, referenceVersion: 20, pinFloor: Infinity, maxVersionsPerKey: 1 });
    expect(slotNumber(resolveSlot([{ entries: run }], request(12)))).toBe(3);
    expect(() => resolveSlot([{ entries: run }], request(7))).toThrow(VersionNotRetainedError);
    expect(() => resolveSlot([{ entries: run }], request(5))).toThrow(VersionNotRetainedError);
    expect(resolveSlot([{ entries: run }], request(4))).toBeUndefined();
    expect(resolveHistory([{ entries: run }], 20, 20, Infinity, 1, 10).map((entry) => entry.version)).toEqual([9]);
  });

  it('a pinned version keeps what it sees, and everything newer, retained', () => {
    const entries: RunEntry[] = [10, 8, 6, 4, 2].map((version) => ({ key: 'k', version, value: encodeStored(version) }));
    const request = (version: number, pinFloor: number) => ({ version, referenceVersion: 10, pinFloor, maxVersionsPerKey: 1 });
    expect(slotNumber(resolveSlot([{ entries }], request(5, 5)))).toBe(4);
    expect(slotNumber(resolveSlot([{ entries }], request(7, 5)))).toBe(6);
    expect(() => resolveSlot([{ entries }], request(3, 5))).toThrow(VersionNotRetainedError);
    expect(() => resolveSlot([{ entries }], request(5, Infinity))).toThrow(VersionNotRetainedError);
    expect(resolveHistory([{ entries }], 10, 10, 5, 1, 10).map((entry) => entry.version)).toEqual([10, 8, 6, 4]);
    expect(resolveHistory([{ entries }], 10, 10, Infinity, 1, 10).map((entry) => entry.version)).toEqual([10]);
  });

  it('a chain trimmed in memory refuses reads between its first version and what it retains', () => {
    const chain = new VersionChain(4, 1);
    chain.append(6, 2);
    chain.append(8, 3);
    chain.trim(1, Infinity);
    const request = (version: number) => ({ version, referenceVersion: 8, pinFloor: Infinity, maxVersionsPerKey: 1 });
    expect(() => resolveSlot([{ chain }], request(5))).toThrow(VersionNotRetainedError);
    expect(resolveSlot([{ chain }], request(3))).toBeUndefined();
    expect(slotNumber(resolveSlot([{ chain }], request(8)))).toBe(3);
  });
});
