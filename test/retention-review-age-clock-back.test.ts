/**
 * Retention review: a version retention by age refused stays refused when the wall
 * clock steps back (an NTP correction: Date.now() is not monotonic). The age floor was
 * the newest commit-time sample at or before now - retainVersionsMs, computed at each
 * ask from the clock: with the clock 3 s back, no sample was old enough, the floor
 * fell to 0 and every version still in runs answered again. The floor now never goes
 * down (VersionTimes#floor keeps the highest it returned).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VersionTimes, versionTimeSettings } from '../src/compaction/version-times.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const PAD = 'p'.repeat(120_000);

async function readAsOf(store: Store, version: number): Promise<unknown> {
  try {
    return String(await store.get('k', { asOf: version })).slice(0, 2);
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

afterEach(() => {
  versionTimeSettings.nowMs = () => Date.now();
});

describe('retention review: retention by age when the clock steps back', () => {
  it('the age floor never goes down', () => {
    const times = new VersionTimes(1_000, [[10, 5_000], [20, 7_000]]);
    expect(times.floor(8_500)).toBe(20);
    expect(times.floor(6_500)).toBe(20);
    expect(times.floor(5_000)).toBe(20);
  });

  it('a version refused by age stays refused', async () => {
    let clock = 1_000_000;
    versionTimeSettings.nowMs = () => clock;
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(71), maxVersionsPerKey: 1, retainVersionsMs: 1000, memoryBudgetBytes: 256 * 1024 });
    try {
      await store.put('k', `v1${PAD}`);
      clock += 2000;
      await store.put('k', `v2${PAD}`);
      clock += 2000;
      await store.put('x', `x3${PAD}`);
      await store.checkpoint(); // records the samples
      clock += 2000;
      expect(await readAsOf(store, 1)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      clock -= 3000;
      expect(await readAsOf(store, 1), 'k as of 1 with the clock 3 s back').toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(await readAsOf(store, 2)).toBe('v2');
    } finally {
      await store.close();
    }
  });
});
