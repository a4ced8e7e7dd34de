/**
 * Review 8, level adapter: an explicit level snapshot expires with the store snapshot
 * behind it (`snapshotMaxAgeMs`, passed as a store option). The store drops an expired
 * snapshot's pin, and a store snapshot's next use throws SnapshotExpiredError; the level
 * snapshot read as of its version through store.get / store.scan, which never looked at
 * the store snapshot again, so past its age it went on reading unpinned: answering the old
 * value while something else kept it (here an iterator of the snapshot, whose scan pins
 * the version too: both cases below resolved 'old'), or, with nothing keeping it and
 * maxVersionsPerKey 1, failing with VersionNotRetainedError after a compaction, an error
 * that blames retention for what the snapshot's own age limit did. Every read through an expired level snapshot
 * (get, getMany, has, an iterator's next step, clear) now throws SnapshotExpiredError
 * (LADYBUG_SNAPSHOT_EXPIRED); a snapshot within its age reads as before.
 */
import { describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const MAX_AGE_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const EXPIRED = { name: 'SnapshotExpiredError', code: 'LADYBUG_SNAPSHOT_EXPIRED' };

async function openDb(store: object): Promise<LadybugLevel<string, string>> {
  const db = new LadybugLevel<string, string>('/db', { store: { fileSystem: new FaultFileSystem(1), ...store } });
  await db.open();
  return db;
}

describe('review8: a level snapshot older than snapshotMaxAgeMs', () => {
  for (const maxVersionsPerKey of [Infinity, 1]) {
    it(`every read through it throws SnapshotExpiredError (maxVersionsPerKey ${maxVersionsPerKey})`, async () => {
      const db = await openDb({ snapshotMaxAgeMs: MAX_AGE_MS, maxVersionsPerKey });
      await db.put('a', 'old');
      const snapshot = db.snapshot();
      const iterator = db.iterator({ snapshot });
      await sleep(MAX_AGE_MS * 3);
      await db.put('a', 'new');
      await db.store.checkpoint();
      await db.store.compact();
      await expect(db.get('a', { snapshot })).rejects.toMatchObject(EXPIRED);
      await expect(db.getMany(['a', 'b'], { snapshot })).rejects.toMatchObject(EXPIRED);
      await expect(db.has('a', { snapshot })).rejects.toMatchObject(EXPIRED);
      await expect(db.iterator({ snapshot }).all()).rejects.toMatchObject(EXPIRED);
      await expect(iterator.next()).rejects.toMatchObject(EXPIRED);
      await expect(db.clear({ snapshot })).rejects.toMatchObject(EXPIRED);
      expect(await db.get('a')).toBe('new');
      await iterator.close();
      await snapshot.close();
      await db.close();
    });
  }

  it('a snapshot within its age reads its version, before and after newer writes', async () => {
    const db = await openDb({ snapshotMaxAgeMs: 60_000, maxVersionsPerKey: 1 });
    await db.put('a', 'old');
    const snapshot = db.snapshot();
    await db.put('a', 'new');
    await db.store.checkpoint();
    await db.store.compact();
    expect(await db.get('a', { snapshot })).toBe('old');
    expect(await db.getMany(['a', 'b'], { snapshot })).toEqual(['old', undefined]);
    expect(await db.iterator({ snapshot }).all()).toEqual([['a', 'old']]);
    await snapshot.close();
    await db.close();
  });
});
