/**
 * floorDeletesMayHaveGained (floor-delete-install.ts), the install's check after a merge
 * that dropped deletes at the retention floor by the per-key count, on its own: what it
 * answers for each source of a newer version, and when the merge listed fewer keys than
 * it dropped (past FLOOR_DELETE_KEYS_MAX: then any write counts).
 */
import { describe, expect, it } from 'vitest';
import type { CompactionPick } from '../src/compaction/compaction-policy.js';
import type { CompactionProtocolConfig } from '../src/compaction/compaction-protocol.js';
import { floorDeletesMayHaveGained } from '../src/compaction/floor-delete-install.js';
import type { MergeCounters } from '../src/compaction/merge-runs.js';

const input = { descriptor: { runId: 1 } };
const pick = { inputs: [input], outputLevel: 1 } as unknown as CompactionPick;

function config(runs: unknown[], memory: { newer?: boolean; keys?: readonly string[] }): CompactionProtocolConfig {
  return {
    runSet: { runs },
    memoryHoldsNewer: memory.newer === undefined ? undefined : () => memory.newer!,
    memoryHoldsAnyKey: memory.keys === undefined ? undefined : (keys: readonly string[]) => keys.some((key) => memory.keys!.includes(key)),
  } as unknown as CompactionProtocolConfig;
}

function counters(dropped: number, keys: string[]): MergeCounters {
  return { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0, floorDeletesDropped: dropped, floorDeleteKeys: keys };
}

describe('floor-merge: the install\'s check for writes since the deciding step', () => {
  it('nothing dropped by the count: nothing to check', () => {
    const none = { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 };
    expect(floorDeletesMayHaveGained(config([input, { descriptor: { runId: 2 } }], { newer: true, keys: ['c'] }), pick, none)).toBe(false);
  });

  it('a run installed above the inputs: gained, whatever it holds', () => {
    expect(floorDeletesMayHaveGained(config([input, { descriptor: { runId: 2 } }], { newer: false, keys: [] }), pick, counters(1, ['c']))).toBe(true);
  });

  it('the keys listed: gained only when a memtable holds one of them', () => {
    expect(floorDeletesMayHaveGained(config([input], { newer: true, keys: ['a', 'b'] }), pick, counters(2, ['c', 'd']))).toBe(false);
    expect(floorDeletesMayHaveGained(config([input], { newer: true, keys: ['a', 'd'] }), pick, counters(2, ['c', 'd']))).toBe(true);
  });

  it('more dropped than listed, or no key lookup: any write in memory counts', () => {
    expect(floorDeletesMayHaveGained(config([input], { newer: true, keys: [] }), pick, counters(3, ['c', 'd']))).toBe(true);
    expect(floorDeletesMayHaveGained(config([input], { newer: false, keys: [] }), pick, counters(3, ['c', 'd']))).toBe(false);
    expect(floorDeletesMayHaveGained(config([input], { newer: true }), pick, counters(1, ['c']))).toBe(true);
    expect(floorDeletesMayHaveGained(config([input], {}), pick, counters(1, ['c'])), 'no memory check given: taken as gained').toBe(true);
  });
});
