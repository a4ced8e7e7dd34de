/**
 * A feed that ends at an untilVersion does not overflow on commits after it: the hub
 * buffered every later commit's changes for it, though its loop ends at the first one
 * above untilVersion, so a feed still catching up to an untilVersion below the current
 * version failed with WatchOverflowError once 10,001 changes were committed after it
 * started, changes it would never deliver. Found by model-watch-lease-random (seed 1010
 * of 80 steps: a feed since 2 until 9 started at 16, a flood of 10,001 puts at 47).
 */
import { expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WATCH_BUFFER_CHANGES_MAX } from '../src/limits.js';

it('a feed catching up to its untilVersion delivers it all and ends, whatever is committed after it', async () => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(8) });
  try {
    await store.put('a', 1); // v1
    await store.put('b', 2); // v2
    const feed = store.watch({ sinceVersion: 0, untilVersion: 2, catchUpBatchChanges: 1 });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
    await store.batch(Array.from({ length: WATCH_BUFFER_CHANGES_MAX + 1 }, (_, index) => ({ type: 'put' as const, key: `f/${index}`, value: index }))); // v3
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 2, key: 'b' } });
    expect(await feed.next()).toEqual({ done: true, value: undefined });
  } finally {
    await store.close();
  }
});
