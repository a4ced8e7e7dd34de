/**
 * Second review of c9a2fa5 (a watch catching up when the store closes rejects with
 * StoreClosedError, not what reading the closed store gave): store and snapshot scans
 * are the sibling path. A scan whose read view held runs a compaction had replaced, with
 * a next() reading its next chunk as close() began, rejected with AssertionFailedError
 * ('run reader ... used after close', "a bug, please report it"): close() closed the
 * replaced runs' readers under the read. It now rejects with StoreClosedError.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const key = (index: number): string => `k${String(index).padStart(5, '0')}`;

describe('a scan reading replaced runs when the store closes', () => {
  for (const source of ['store', 'snapshot'] as const) {
    it(`rejects its step in flight with StoreClosedError (${source} scan)`, async () => {
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(6), memoryBudgetBytes: 1 << 20 });
      for (const value of ['x', 'y']) {
        for (let start = 0; start < 1200; start += 200) {
          await store.batch(Array.from({ length: 200 }, (_, offset) => ({ type: 'put' as const, key: key(start + offset), value: value.repeat(100) })));
        }
        await store.checkpoint();
      }
      const snapshot = source === 'snapshot' ? await store.snapshot() : undefined;
      const scan = snapshot === undefined ? store.scan() : snapshot.scan();
      expect((await scan.next()).value).toEqual([key(0), 'y'.repeat(100)]);
      await store.compact(); // replaces the two runs the scan's view holds
      for (let index = 1; index < 512; index++) await scan.next(); // the first chunk (512 keys) used up
      const step = scan.next(); // reads the next chunk from the replaced runs
      const closing = store.close();
      const outcome = await step.then((result) => result, (error: unknown) => error);
      await closing;
      // Either the read finished first (the next key) or the close did (StoreClosedError).
      if (outcome instanceof Error) expect(outcome).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
      else expect(outcome).toEqual({ done: false, value: [key(512), 'y'.repeat(100)] });
    });
  }
});
