/**
 * The conflict log kept as two parallel arrays (versions, operations) instead of an
 * object per commit (issue 12, allocations per commit). The random-step test in
 * conflict-log-index.test.ts stays under 120 entries; this one drives the log past
 * its head compaction (COMPACT_AFTER_ENTRIES, 4096 dropped entries at the head) with
 * a horizon held back by a long transaction, then checks conflicts, forgets and the
 * size against a plain list after the arrays were sliced, and after the emptied log
 * reuses its arrays (stale slots past the end never count).
 */
import { describe, expect, it } from 'vitest';
import { type Conflict, ConflictLog } from '../src/transaction/conflict-log.js';

interface ModelEntry {
  version: number;
  keys: string[];
}

function modelConflict(entries: readonly ModelEntry[], readVersion: number, readKeys: ReadonlySet<string>): Conflict | undefined {
  for (const entry of entries) {
    if (entry.version <= readVersion) continue;
    const keys = entry.keys.filter((key) => readKeys.has(key));
    if (keys.length > 0) return { version: entry.version, keys, ranges: [] };
  }
  return undefined;
}

const keyOf = (version: number): string => `k${version % 37}`;

describe('ConflictLog parallel arrays', () => {
  it('keeps conflicts, forgets and size exact across the head compaction', () => {
    const log = new ConflictLog();
    let model: ModelEntry[] = [];
    const append = (version: number): void => {
      const keys = [keyOf(version), `only${version}`];
      log.append(version, keys.map((key) => ({ key })));
      model.push({ version, keys });
    };
    const prune = (horizon: number): void => {
      log.prune(horizon);
      model = model.filter((entry) => entry.version > horizon);
    };
    const forget = (version: number): void => {
      log.forget(version);
      model = model.map((entry) => (entry.version === version ? { version, keys: [] } : entry));
    };
    const check = (readVersion: number, keys: string[]): void => {
      const readKeys = new Set(keys);
      expect(log.findConflict(readVersion, { keys: readKeys, ranges: [] })).toEqual(modelConflict(model, readVersion, readKeys));
      expect(log.findConflict(readVersion, { keys: new Set(), ranges: [{ gte: keys[0]!, lte: keys[0]! }] })?.version)
        .toBe(model.find((entry) => entry.version > readVersion && entry.keys.includes(keys[0]!))?.version);
    };

    for (let version = 1; version <= 5000; version++) append(version);
    check(10, ['k5', 'only4999']);
    forget(4999);
    check(10, ['only4999']);
    check(4990, [keyOf(4999)]);
    // The horizon moves past 4096 entries: the arrays are sliced at the head.
    prune(4200);
    expect(log.size).toBe(800);
    check(4100, ['k3', 'only4201']);
    check(4300, [keyOf(4300), 'only4300']);
    forget(4301);
    check(4300, [keyOf(4301), 'only4301']);
    check(4300, ['only4999']);
    for (let version = 5001; version <= 9500; version++) append(version);
    prune(8400); // a second compaction, of arrays that were sliced once
    expect(log.size).toBe(1100);
    for (const readVersion of [8399, 8400, 9000, 9499, 9500]) check(readVersion, [keyOf(readVersion + 1), `only${readVersion + 3}`]);
    forget(8401);
    forget(12_000); // never logged: nothing happens
    check(8400, [keyOf(8401), 'only8401']);
    prune(9500);
    expect(log.size).toBe(0);
    check(0, ['k1', 'only9500']);
    append(9501);
    check(9500, [keyOf(9501)]);
    // The emptied log reuses its arrays: what the stale slots past the end held is gone.
    check(0, ['only9499', 'only9400', keyOf(9499)]);
    expect(log.size).toBe(1);
    for (let version = 9502; version <= 9600; version++) append(version);
    forget(9550);
    prune(9520);
    check(9519, [keyOf(9550), 'only9550', 'only9521']);
    expect(log.size).toBe(80);
  });
});
