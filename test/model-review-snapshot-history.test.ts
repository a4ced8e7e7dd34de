/**
 * A snapshot's history() is a read of the snapshot like any other: it must not change
 * while the snapshot is held, whatever is written, flushed or compacted after it.
 *
 * Found by model-review-random.test.ts (seed 74): with maxVersionsPerKey 3, a key
 * written at versions 1 and 2, a snapshot at 2 listed [2, 1]; after three more puts of
 * the key the same snapshot listed [2] alone. Retention counts a snapshot's history up
 * to its own version (resolve.ts: the newest N at or below it), but a pin protected
 * only the entry visible at it and newer from trimming (version-chain.ts trim) and from
 * compaction (version-gc.ts), so the older ones the snapshot lists were reclaimed under it.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { collectKey } from '../src/compaction/version-gc.js';
import { isNotRetainedMarker } from '../src/engine/resolve.js';

describe('a snapshot\'s history does not change while it is held', () => {
  for (const maxVersionsPerKey of [2, 3]) {
    for (const after of ['writes', 'checkpoint', 'compact', 'flushed before'] as const) {
      it(`maxVersionsPerKey ${maxVersionsPerKey}, ${after}`, async () => {
        const store = await openStore('/db', { fileSystem: new FaultFileSystem(1), maxVersionsPerKey });
        try {
          await store.put('other', 1);
          for (let index = 2; index <= 5; index++) await store.put('k', `v${index}`);
          if (after === 'flushed before') await store.checkpoint();
          const snapshot = await store.snapshot();
          const before = await snapshot.history('k');
          expect(before.map((entry) => entry.version)).toEqual([5, 4, 3, 2].slice(0, maxVersionsPerKey));
          for (let index = 6; index <= 10; index++) await store.put('k', `v${index}`);
          if (after !== 'writes') await store.checkpoint();
          if (after === 'compact' || after === 'flushed before') await store.compact();
          expect(await snapshot.history('k')).toEqual(before);
          expect(await snapshot.get('k')).toBe('v5');
          // The store's own history lists the newest N first (and what the pin keeps after them).
          expect((await store.history('k')).map((entry) => entry.version).slice(0, maxVersionsPerKey)).toEqual([10, 9, 8].slice(0, maxVersionsPerKey));
          await snapshot.release();
          await store.put('k', 'v11');
          await store.checkpoint();
          await store.compact();
          // Released: the versions it kept are reclaimed as usual.
          expect((await store.history('k')).map((entry) => entry.version)).toEqual([11, 10, 9].slice(0, maxVersionsPerKey));
        } finally {
          await store.close();
        }
      });
    }
  }
});

describe('a snapshot\'s history does not depend on other pins', () => {
  it('lists the same after an older snapshot is released', async () => {
    // Before: [4, 3, 2] while the snapshot at 2 was held (what that pin kept), [4] after.
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1), maxVersionsPerKey: 1 });
    try {
      for (let index = 1; index <= 2; index++) await store.put('k', `v${index}`);
      const older = await store.snapshot();
      for (let index = 3; index <= 4; index++) await store.put('k', `v${index}`);
      const snapshot = await store.snapshot();
      const before = await snapshot.history('k');
      await older.release();
      await store.put('k', 'v5');
      await store.checkpoint();
      await store.compact();
      expect(before.map((entry) => entry.version)).toEqual([4]);
      expect(await snapshot.history('k')).toEqual(before);
      expect((await older.history('k').catch((error: Error) => error.name))).toBe('SnapshotReleasedError');
    } finally {
      await store.close();
    }
  });
});

describe('compaction keeps a pinned snapshot\'s history', () => {
  it('collectKey keeps the maxVersionsPerKey entries at or below the horizon', () => {
    const entries = [10, 9, 8, 7, 6, 5, 4, 3, 2].map((version) => ({ key: 'k', version, value: Uint8Array.of(version) }));
    const kept = (maxVersionsPerKey: number, horizon: number) => collectKey(entries, { maxVersionsPerKey, horizon, includesOldest: true }).kept
      .map((entry) => (isNotRetainedMarker(entry.value) ? `${entry.version}m` : String(entry.version)));
    // Before: 10,9,8,7,6,5,2m (the snapshot at 5 listed 5,4 and then 5 alone).
    expect(kept(2, 5)).toEqual(['10', '9', '8', '7', '6', '5', '4', '2m']);
    expect(kept(3, 5)).toEqual(['10', '9', '8', '7', '6', '5', '4', '3', '2m']);
    expect(kept(1, 5)).toEqual(['10', '9', '8', '7', '6', '5', '2m']);
    expect(kept(2, Infinity)).toEqual(['10', '9', '2m']);
  });
});
