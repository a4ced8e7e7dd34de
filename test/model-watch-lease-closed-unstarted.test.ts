/**
 * A feed asked for its first change only after close() rejects with StoreClosedError, as
 * README "watch" has it for every feed's next step, also when nothing in its range is due
 * up to its untilVersion: it ended normally ({ done: true }), as if it had caught up, and
 * on an abandoned store (a crash in the tests) its catch-up read the dead store's history
 * and failed with whatever that gave (IoError, VersionNotRetainedError). Found by
 * model-watch-lease-random (seed 12 of 40 steps: a feed of ["f/05000", "z") until 4,
 * created before a crash and first stepped after it).
 */
import { expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

it.each([
  ['nothing in range up to untilVersion', { gte: 'x', untilVersion: 2 }],
  ['changes in range', {}],
])('a feed first stepped after close() rejects with StoreClosedError (%s)', async (_, options) => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(3) });
  await store.put('a', 1);
  await store.put('b', 2);
  const feed = store.watch({ sinceVersion: 0, ...options });
  await store.close();
  await expect(feed.next()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
  expect(await feed.next(), 'nothing more after the error').toEqual({ done: true, value: undefined });
});
