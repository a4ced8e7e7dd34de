/**
 * Retention review: a version retention by age (retainVersionsMs) refused stays refused.
 *
 * After a crash:
 * README: retainVersionsMs keeps every version current within the window, "older ones
 * get VersionNotRetainedError". With maxVersionsPerKey 1 and retainVersionsMs 1000, k
 * written at 1 and 2 two seconds apart (each flushed to a run of its own by the small
 * memory budget), get(k, { asOf: 1 }) is refused two seconds later; after a crash it
 * answered 'v1' again: the age floor came from commit-time samples that only a
 * checkpoint or a compaction writes to the manifest, the crash lost them, and the
 * reopened store, knowing no old sample, kept (and answered) everything. The floor
 * now counts only samples the manifest holds (VersionTimes#recorded), so a crash
 * cannot bring it down; what it keeps meanwhile is only kept longer.
 *
 * When the clock steps back:
 * (an NTP correction: Date.now() is not monotonic). The age floor was
 * the newest commit-time sample at or before now - retainVersionsMs, computed at each
 * ask from the clock: with the clock 3 s back, no sample was old enough, the floor
 * fell to 0 and every version still in runs answered again. The floor now never goes
 * down (VersionTimes#floor keeps the highest it returned).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VersionTimes, versionTimeSettings } from '../src/compaction/version-times.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

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

describe('retention review: retention by age across a crash', () => {
  it('a version refused by age is refused after the crash too', async () => {
    let clock = 1_000_000;
    versionTimeSettings.nowMs = () => clock;
    const options = { maxVersionsPerKey: 1, retainVersionsMs: 1000, memoryBudgetBytes: 256 * 1024 };
    let fileSystem = new FaultFileSystem(61);
    let store = await openStore('/db', { ...options, fileSystem });
    try {
      await store.put('k', `v1${PAD}`);
      clock += 2000;
      await store.put('k', `v2${PAD}`);
      clock += 2000;
      await store.put('x', `x3${PAD}`);
      clock += 2000;
      await store.put('y', 'y4');
      // Before the crash: 1 left the window (2 was current 4 s ago), 2 is the newest of k.
      const before = await readAsOf(store, 1);
      expect(await readAsOf(store, 2)).toBe('v2');
      store[abandonStore]();
      fileSystem = fileSystem.crash('drop-unsynced');
      store = await openStore('/db', { ...options, fileSystem });
      expect(store.version).toBe(4);
      const after = await readAsOf(store, 1);
      // Refused before the crash (or kept, until the floor is recorded): never refused, then answered.
      if (before === 'LADYBUG_VERSION_NOT_RETAINED') expect(after, 'k as of 1 after the crash, refused before it').toBe(before);
      expect(await readAsOf(store, 2)).toBe('v2');
      // Once a checkpoint records the samples, the window applies.
      await store.checkpoint();
      clock += 2000;
      await store.put('z', 'z5');
      expect(await readAsOf(store, 1), 'k as of 1 once the samples are recorded').toBe('LADYBUG_VERSION_NOT_RETAINED');
      const refusedNow = await readAsOf(store, 1);
      store[abandonStore]();
      fileSystem = fileSystem.crash('drop-unsynced');
      store = await openStore('/db', { ...options, fileSystem });
      expect(await readAsOf(store, 1), 'k as of 1 after a second crash').toBe(refusedNow);
    } finally {
      await store.close();
    }
  });
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
