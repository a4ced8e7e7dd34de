/**
 * A feed waiting for a commit ends once its untilVersion is visible, also when the commits
 * that reach it hold nothing of its range: the hub woke a waiting feed only when a commit
 * brought it a change, so `for await (... store.watch({ gte, lt, untilVersion }))` hung
 * after the store passed untilVersion until a later commit wrote into the range (or the
 * store closed). Found by model-watch-lease-random (seed 146 of 40 steps: a feed of
 * ["a", "b") until 8, waiting at 7, and a commit at 8 outside the range). Here the store's
 * close(), once every microtask has run, tells the two apart without a timer: it fails a
 * feed still waiting with StoreClosedError, and the feed that ended has already said so.
 */
import { expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

it.each([
  ['one commit reaching untilVersion', 1],
  ['commits passing untilVersion', 3],
])('a waiting feed ends when untilVersion becomes visible through commits outside its range (%s)', async (_, commits) => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(4) });
  await store.put('a', 1); // v1: delivered
  const feed = store.watch({ gte: 'a', lt: 'b', sinceVersion: 0, untilVersion: 2 });
  expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
  const waiting = feed.next(); // nothing due: it waits for a commit
  const outcome = waiting.then((result) => result, (error: unknown) => (error as { code?: string }).code);
  for (let index = 0; index < commits; index++) await store.put('x', index); // v2.. outside ["a", "b")
  await new Promise((resolve) => setImmediate(resolve)); // a woken feed has run on by now
  await store.close();
  expect(await outcome).toEqual({ done: true, value: undefined });
});
