/**
 * Retention review: a scan as of an old version does not make other reads answer for
 * versions per-key retention refused. A scan pins its version while it runs (so
 * trimming and compaction keep what it reads), and reads counted every pin as a
 * reader that may read what is visible at it: with maxVersionsPerKey 1, a at 1, k at
 * 2 and 3 (runs), get(k, { asOf: 2 }) was refused and history(k) listed [3]; while a
 * scan({ asOf: 2 }) was open, get(k, { asOf: 2 }) answered 'v2' and history(k) listed
 * [3, 2] (and both went back once the scan ended). A pin below what reads already
 * retain (the oldest other pin, and the newest version) now only holds what the scan
 * reads (ReadPins: it does not lower readFloor()).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const REFUSED = 'LADYBUG_VERSION_NOT_RETAINED';

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

async function expectRefusedAt2(store: Store, when: string): Promise<void> {
  expect(await readAsOf(store, 'k', 2), `get k as of 2 ${when}`).toBe(REFUSED);
  expect((await store.history('k')).map((entry) => entry.version), `history of k ${when}`).toEqual([3]);
  expect(await readAsOf(store, 'k', 3), `get k as of 3 ${when}`).toBe('v3');
  expect(await readAsOf(store, 'a', 2), `get a as of 2 ${when}`).toBe('a1');
}

describe('retention review: an as-of scan below retention', () => {
  it('does not re-expose, for other reads, a version per-key retention refused', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(51), maxVersionsPerKey: 1 });
    try {
      await store.put('a', 'a1');
      await store.put('k', 'v2');
      await store.checkpoint();
      await store.put('k', 'v3');
      await store.checkpoint();
      await expectRefusedAt2(store, 'before the scan');
      const scan = store.scan({ asOf: 2 });
      expect((await scan.next()).value).toEqual(['a', 'a1']);
      await expectRefusedAt2(store, 'while the scan as of 2 is open');
      // The scan itself meets k as refused too, as it did before.
      await expect(scan.next()).rejects.toMatchObject({ code: REFUSED });
      await expectRefusedAt2(store, 'after the scan');
      // A snapshot (a pin at the newest version) still keeps what is visible at it.
      const snapshot = await store.snapshot();
      await store.put('k', 'v4');
      expect(await readAsOf(store, 'k', 3), 'get k as of 3 while a snapshot at 3 is held').toBe('v3');
      const second = store.scan({ asOf: 3 });
      expect((await second.next()).value).toEqual(['a', 'a1']);
      expect(await readAsOf(store, 'k', 3), 'get k as of 3 beside a scan at the snapshot').toBe('v3');
      await second.return?.();
      await snapshot.release();
      expect(await readAsOf(store, 'k', 3), 'get k as of 3 once the snapshot is released').toBe(REFUSED);
    } finally {
      await store.close();
    }
  });
});
