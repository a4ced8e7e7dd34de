/**
 * A snapshot's release or expiry ends its scans at once. A scan of a snapshot pins the
 * snapshot's version and holds its read view too (scan-iterator.ts), so a scan paused
 * (not pulled, not returned) when its snapshot was released, or expired after
 * snapshotMaxAgeMs, kept the version pinned (stats().pinnedReads, oldestPinAgeMs), and
 * after a compaction the replaced runs open with their files' space
 * (replacedRunsHeld), until its next step or its collection: README says an expired
 * snapshot stops pinning. Now the pin, the view and the run cursors go with the
 * snapshot's pin, and the scan's next step throws the snapshot's error
 * (SnapshotReleasedError, SnapshotExpiredError), never done as if the scan were complete.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SnapshotExpiredError, SnapshotReleasedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import type { StoreSnapshot } from '../src/store/store-snapshot.js';
import { collectAfterTurns } from './support/collect-garbage.js';

afterEach(() => vi.useRealTimers());

const MAX_AGE_MS = 60_000;
const key = (index: number) => `k${String(index).padStart(4, '0')}`;

/** Two runs (a compaction replaces both) and keys in the memtable. */
async function twoRunStore(): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(5), snapshotMaxAgeMs: MAX_AGE_MS, checkpointOnClose: false });
  for (let round = 0; round < 2; round++) {
    for (let index = round; index < 600; index += 2) await store.put(key(index), `value ${index}`);
    await store.checkpoint();
  }
  await store.put(key(0), 'newer');
  return store;
}

const ENDS: Record<string, { end: (snapshot: StoreSnapshot) => Promise<void>; error: Function }> = {
  released: { end: (snapshot) => snapshot.release(), error: SnapshotReleasedError },
  expired: {
    // Fake clocks from before the snapshot: its age passes without waiting (the expiry timer fires).
    end: async () => {
      vi.advanceTimersByTime(MAX_AGE_MS + 1);
      vi.useRealTimers();
    },
    error: SnapshotExpiredError,
  },
};

describe('a paused scan of a snapshot lets go when the snapshot does', () => {
  for (const reverse of [false, true]) {
    for (const [name, { end, error }] of Object.entries(ENDS)) {
      it(`${name}${reverse ? ', reverse' : ''}`, async () => {
        const store = await twoRunStore();
        try {
          if (name === 'expired') vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
          const snapshot = await store.snapshot();
          const scan = snapshot.scan({ reverse })[Symbol.asyncIterator]();
          const first = await scan.next();
          expect(first.done).toBe(false);
          expect(store.stats().pinnedReads).toBe(2); // the snapshot's and its scan's
          await end(snapshot);
          expect(store.stats().pinnedReads, 'pins left after the snapshot ended').toBe(0);
          const compacted = await store.compact();
          expect(compacted.runsIn).toBe(2);
          await store.get(key(1)); // the store's cached view moves to the new run
          await collectAfterTurns();
          expect(store.stats().storage.compaction.replacedRunsHeld, 'replaced runs held open for the paused scan').toBe(0);
          await expect(scan.next()).rejects.toBeInstanceOf(error);
          expect(await scan.next()).toEqual({ done: true, value: undefined });
          expect(await store.get(key(0))).toBe('newer');
        } finally {
          vi.useRealTimers();
          await store.close();
        }
      });
    }
  }

  it('a scan of a released snapshot in flight rejects with the release, not done', async () => {
    const store = await twoRunStore();
    try {
      const snapshot = await store.snapshot();
      const scan = snapshot.scan()[Symbol.asyncIterator]();
      const pending = scan.next();
      await snapshot.release();
      await expect(pending).rejects.toBeInstanceOf(SnapshotReleasedError);
      expect(store.stats().pinnedReads).toBe(0);
    } finally {
      await store.close();
    }
  });
});
