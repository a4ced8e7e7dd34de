/**
 * A feed in the middle of its catch-up when the store closes rejects its next step with
 * StoreClosedError, as README "watch" has it, not with CorruptionError: its read view
 * held runs a compaction had replaced (their files unlinked, read through readers kept
 * open while a view holds them), close() closed those readers, and the catch-up's next
 * batch opened the files again: "run file missing: the manifest lists run 3". Found by
 * model-watch-lease-random (seeds 1010 and 1094 of 80 steps: a feed catching up in
 * batches across a reopen step).
 */
import { expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

it('a catch-up reading replaced runs rejects with StoreClosedError after close()', async () => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(6) });
  await store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'b', value: 2 }]);
  await store.checkpoint();
  await store.batch([{ type: 'put', key: 'c', value: 3 }, { type: 'put', key: 'd', value: 4 }]);
  await store.checkpoint();
  const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 });
  expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
  await store.compact(); // replaces the two runs the feed's view holds
  await store.close();
  await expect(feed.next()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
});
