/**
 * Review 8, watch: a catch-up over runs refuses with VersionNotRetainedError only when
 * retention dropped a change it would deliver, as it does over memtables and as
 * history() and get({ asOf }) answer. With maxVersionsPerKey set, collectRun (catch-up.ts)
 * refused whenever a key held that many entries in one run with the max-th newer than
 * sinceVersion + 1: with maxVersionsPerKey 1, every key written after sinceVersion + 1.
 * So a feed's answer depended on whether a flush had run: before a checkpoint,
 * watch({ sinceVersion: 0 }) over keys each written once (or max times) delivered every
 * change; after it, the same feed failed at once ("version 0 is no longer retained for
 * key k1 (oldest retained: 2)"), though nothing was dropped and history() listed every
 * version. A feed resumed after a clean close (which checkpoints) met it nearly always.
 * Retention leaves a NOT_RETAINED marker wherever it drops versions of a key in a run
 * (memtable trimming at flush, compaction's version GC; resolve.ts, version-gc.ts), and
 * the catch-up now refuses on a marker whose dropped span reaches above sinceVersion,
 * and delivers everything else.
 */
import { describe, expect, it } from 'vitest';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

async function feed(store: Store, sinceVersion: number): Promise<string[]> {
  const changes: string[] = [];
  for await (const change of store.watch({ sinceVersion, untilVersion: store.version })) changes.push(`${change.version}:${String(change.key)}:${String(change.value)}`);
  return changes;
}

async function refusal(store: Store, sinceVersion: number): Promise<unknown> {
  return feed(store, sinceVersion).then(() => 'delivered', (error: unknown) => error);
}

describe('review8: watch catch-up over runs under maxVersionsPerKey', () => {
  for (const max of [1, 2, 3]) {
    it(`maxVersionsPerKey ${max}: keys written ${max} time(s) each, nothing dropped: the same feed before and after a checkpoint and a compaction`, async () => {
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(1), maxVersionsPerKey: max });
      try {
        for (let round = 0; round < max; round++) for (let index = 0; index < 10; index++) await store.put(`k${index}`, round * 100 + index);
        const fromMemtable = await feed(store, 0);
        expect(fromMemtable).toHaveLength(10 * max);
        await store.checkpoint();
        expect(await feed(store, 0)).toEqual(fromMemtable);
        expect(await feed(store, 7)).toEqual(fromMemtable.slice(7));
        await store.compact();
        expect(await feed(store, 0)).toEqual(fromMemtable);
        expect(await store.history('k1')).toHaveLength(max);
      } finally {
        await store.close();
      }
    });
  }

  it('still refuses when retention dropped a version above sinceVersion, in a flushed memtable and after a compaction', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(2), maxVersionsPerKey: 1 });
    try {
      await store.put('a', 'first'); // version 1, dropped by the rewrite at 11
      for (let index = 0; index < 9; index++) await store.put(`k${index}`, index); // 2..10
      await store.put('a', 'second'); // 11
      const fromMemtable = await refusal(store, 0);
      expect(fromMemtable).toBeInstanceOf(VersionNotRetainedError);
      expect(fromMemtable).toMatchObject({ key: 'a' });
      const resumed = await feed(store, 10);
      expect(resumed).toEqual(['11:a:second']);
      for (const step of ['checkpoint', 'compact'] as const) {
        await store[step]();
        const refused = await refusal(store, 0);
        expect(refused, step).toBeInstanceOf(VersionNotRetainedError);
        expect(refused, step).toMatchObject({ key: 'a' });
        expect(await feed(store, 10), step).toEqual(resumed);
      }
    } finally {
      await store.close();
    }
  });
});
