/**
 * Version GC of one key (src/compaction/version-gc.ts) against resolve.ts's rule:
 * what compaction keeps of a key's history, where the NOT_RETAINED marker goes,
 * and when tombstones go. Every case also checks the central property: each as-of
 * read over the kept entries answers as over the original ones (or the original
 * already refused it).
 */
import { describe, expect, it } from 'vitest';
import { collectKey, type VersionGcRule } from '../src/compaction/version-gc.js';
import { isNotRetainedMarker, resolveSlot } from '../src/engine/resolve.js';
import { VersionNotRetainedError } from '../src/errors.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { encodeStored } from '../src/codec/values.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';

const value = (text: string) => encodeStored(text as never);
const put = (version: number): RunEntry => ({ key: 'k', version, value: value(`v${version}`) });
const del = (version: number): RunEntry => ({ key: 'k', version, value: undefined });

function read(entries: readonly RunEntry[], version: number, rule: VersionGcRule): string {
  try {
    const slot = resolveSlot([{ entries }], { version, referenceVersion: 100, pinFloor: rule.horizon, maxVersionsPerKey: rule.maxVersionsPerKey });
    return slot === undefined || slot === TOMBSTONE ? 'absent' : JSON.stringify(slot);
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'not-retained';
    throw error;
  }
}

function expectSameAnswers(entries: readonly RunEntry[], kept: readonly RunEntry[], rule: VersionGcRule): void {
  for (let version = 0; version <= 20; version++) expect(read(kept, version, rule), `as of ${version}`).toBe(read(entries, version, rule));
}

describe('version GC of one key', () => {
  it('keeps the newest maxVersionsPerKey and marks the rest at the oldest dropped version', () => {
    const entries = [put(9), put(7), put(5), put(3)];
    const rule = { maxVersionsPerKey: 2, horizon: Infinity, includesOldest: false };
    const { kept, droppedCount } = collectKey(entries, rule);
    expect(kept.map((entry) => entry.version)).toEqual([9, 7, 3]);
    expect(isNotRetainedMarker(kept[2]!.value)).toBe(true);
    expect(droppedCount).toBe(2);
    expectSameAnswers(entries, kept, rule);
  });

  it('keeps what the oldest pin sees and everything above it', () => {
    const entries = [put(12), put(10), put(6), put(4), put(2)];
    const rule = { maxVersionsPerKey: 1, horizon: 7, includesOldest: false };
    const { kept } = collectKey(entries, rule);
    expect(kept.map((entry) => entry.version)).toEqual([12, 10, 6, 2]);
    expectSameAnswers(entries, kept, rule);
  });

  it('drops nothing with unbounded retention, and never the newest entry', () => {
    const entries = [put(5), del(3), put(1)];
    expect(collectKey(entries, { maxVersionsPerKey: Infinity, horizon: Infinity, includesOldest: false }).kept).toEqual(entries);
    expect(collectKey([put(5)], { maxVersionsPerKey: 1, horizon: 0, includesOldest: false }).kept).toEqual([put(5)]);
  });

  it('keeps bottom tombstones (history lists them; a newer version may make them unretained)', () => {
    const entries = [put(9), del(5), del(2)];
    const unbounded = { maxVersionsPerKey: Infinity, horizon: Infinity, includesOldest: true };
    expect(collectKey(entries, unbounded).kept).toEqual(entries);
    expect(collectKey([del(4)], { maxVersionsPerKey: 1, horizon: Infinity, includesOldest: true }).kept).toEqual([del(4)]);
    const bounded = { maxVersionsPerKey: 1, horizon: Infinity, includesOldest: true };
    const deleted = collectKey([del(9), put(5)], bounded);
    expect(deleted.kept.map((entry) => [entry.version, entry.value === undefined])).toEqual([[9, true], [5, false]]);
    expect(isNotRetainedMarker(deleted.kept[1]!.value)).toBe(true);
    expectSameAnswers([del(9), put(5)], deleted.kept, bounded);
  });

  it('an existing marker at the bottom stays the marker, and GC is idempotent', () => {
    const marker: RunEntry = { key: 'k', version: 1, value: Uint8Array.of(0xc1) };
    const entries = [put(8), put(6), marker];
    const rule = { maxVersionsPerKey: 1, horizon: Infinity, includesOldest: true };
    const once = collectKey(entries, rule).kept;
    expect(once.map((entry) => entry.version)).toEqual([8, 1]);
    expect(collectKey(once, rule).kept).toEqual(once);
    expectSameAnswers(entries, once, rule);
  });
});
