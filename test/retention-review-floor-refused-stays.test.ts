/**
 * Retention review: a version per-key retention refused stays refused when a later
 * compact({ retainFrom }) raises the floor to it (README: reads at or above the floor
 * "answer as before"). maxVersionsPerKey 1, two runs: k at 1 and 3, a delete of t at 2
 * and t at 4. Before any floor, k and t as of 2 (and t as of 3) are refused and each
 * history lists its newest version only. Raising the floor to 2 made the entry visible
 * at the floor "always retained": get k as of 2 answered 'v1', t as of 2 "absent", a
 * scan as of 2 listed k, history(k) grew to [3, 1]; and the merge at floor 3 dropped
 * t's delete (visible at the floor) with no marker, so t as of 3 answered "absent".
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

async function scanAsOf(store: Store, version: number): Promise<unknown> {
  const rows: unknown[] = [];
  try {
    for await (const row of store.scan({ asOf: version })) rows.push(row);
    return rows;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

const REFUSED = 'LADYBUG_VERSION_NOT_RETAINED';

async function expectAnswersOf(store: Store, floor: number, when: string): Promise<void> {
  for (const [key, version] of [['k', 2], ['t', 2], ['t', 3]] as const) {
    expect(await readAsOf(store, key, version), `get ${key} as of ${version} ${when}`).toBe(REFUSED);
  }
  if (floor <= 2) expect(await scanAsOf(store, 2), `scan as of 2 ${when}`).toBe(REFUSED);
  expect(await readAsOf(store, 'k', 3), `get k as of 3 ${when}`).toBe('v3');
  expect(await scanAsOf(store, 4), `scan as of 4 ${when}`).toEqual([['k', 'v3'], ['t', 't4']]);
  expect((await store.history('k')).map((entry) => entry.version), `history of k ${when}`).toEqual([3]);
  expect((await store.history('t')).map((entry) => entry.version), `history of t ${when}`).toEqual([4]);
}

describe('retention review: a floor raised to a version per-key retention refused', () => {
  it('leaves get, scan and history as of it refused, before and after the merge and a reopen', async () => {
    const fileSystem = new FaultFileSystem(7);
    const options = { fileSystem, maxVersionsPerKey: 1 };
    let store = await openStore('/db', options);
    try {
      await store.put('k', 'v1');
      await store.delete('t');
      await store.checkpoint();
      await store.put('k', 'v3');
      await store.put('t', 't4');
      await store.checkpoint();
      await expectAnswersOf(store, 0, 'before any floor');
      // Raise the floor alone (no run meets the range), then merge every run with it.
      expect((await store.compact({ gte: 'zzz', retainFrom: 2 })).retentionFloor).toBe(2);
      await expectAnswersOf(store, 2, 'after the floor rose to 2');
      expect((await store.compact({ gte: 'zzz', retainFrom: 3 })).retentionFloor).toBe(3);
      await expectAnswersOf(store, 3, 'after the floor rose to 3');
      expect((await store.compact()).outcome).toBe('compacted');
      await expectAnswersOf(store, 3, 'after the merge at floor 3');
      await store.close();
      store = await openStore('/db', options);
      await expectAnswersOf(store, 3, 'after a reopen');
    } finally {
      await store.close();
    }
  });
});
