/**
 * A transactionSync() body that calls other methods of its store (not awaited: a
 * synchronous body cannot) or schedules a callback that does. The body holds the
 * commit section while it runs, so such a call waits for it and runs after: it is
 * ordered after the body's commit, and nothing deadlocks. Debug mode (every test run,
 * `{ debug: true }`) must behave as production does: a call from the body is not a
 * lock taken by the section itself, so it is no lock-order violation (before, each
 * such call was refused with LockOrderViolation, "it would deadlock", also a callback
 * the body scheduled that ran long after the section ended, and a close() called from
 * the body was refused after marking the store closing: it never closed, and a
 * reopen got StoreLockedError).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { setDebugForTesting } from '../src/util/debug.js';
import type { Store } from '../src/store/store.js';

/** Settles `promise`, or fails the test naming `label` if it has not settled after `ms` (a hang). */
function within<T>(promise: Promise<T>, label: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<T>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not settle`)), ms);
  });
  return Promise.race([promise.finally(() => clearTimeout(timer)), hang]);
}

/** The calls a body makes, each writing `call/<name>` or reading, so the order shows. */
const CALLS: Record<string, (store: Store) => Promise<unknown>> = {
  put: (store) => store.put('k', 'put'),
  batch: (store) => store.batch([{ type: 'put', key: 'call/batch', value: 1 }]),
  delete: (store) => store.delete('call/none'),
  transaction: (store) => store.transaction(async (tx) => { tx.put('call/transaction', (await tx.get('k')) as string); }),
  transactionSync: (store) => store.transactionSync((tx) => { tx.put('call/transactionSync', tx.get('k') as string); }),
  checkpoint: (store) => store.checkpoint(),
  compact: (store) => store.compact(),
  scrub: (store) => store.scrub(),
  backup: (store) => store.backup('/backup'),
  lease: (store) => store.leases.acquire('job', { owner: 'worker', ttlMs: 60_000 }),
  snapshot: async (store) => { const snapshot = await store.snapshot(); snapshot.release(); },
};

for (const debug of [true, false]) {
  describe(`store calls made by a transactionSync() body (debug mode ${debug ? 'on' : 'off'})`, () => {
    afterEach(() => setDebugForTesting(true));

    it('each runs after the body commits, and the store commits and closes after', async () => {
      setDebugForTesting(debug);
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(7), segmentSizeBytes: 256 * 1024 });
      await store.put('k', 'before');
      const made: Array<[string, Promise<unknown>]> = [];
      await within(store.transactionSync((tx) => {
        expect(tx.get('k')).toBe('before');
        for (const [name, call] of Object.entries(CALLS)) made.push([name, call(store)]);
        tx.put('k', 'body');
      }), 'the body');
      const failed: string[] = [];
      for (const [name, promise] of made) {
        await within(promise, name).catch((error: unknown) => failed.push(`${name}: ${String(error)}`));
      }
      expect(failed).toEqual([]);
      expect(await store.get('k')).toBe('put'); // the put came after the body's write
      // Both read k after the body's commit (the optimistic one may retry past the put too).
      expect(['body', 'put']).toContain(await store.get('call/transaction'));
      expect(['body', 'put']).toContain(await store.get('call/transactionSync'));
      expect(await store.get('call/batch')).toBe(1);
      await within(store.put('after', 1), 'a put after');
      await within(store.close(), 'close');
    });

    it('a callback the body scheduled calls the store after the section ended', async () => {
      setDebugForTesting(debug);
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(8), segmentSizeBytes: 256 * 1024 });
      let later: Promise<unknown> | undefined;
      let scheduled!: () => void;
      const run = new Promise<void>((resolve) => { scheduled = resolve; });
      await store.transactionSync((tx) => {
        tx.put('k', 'body');
        later = run.then(() => Promise.all([store.checkpoint(), store.put('k', 'later')]));
      });
      scheduled();
      await within(later!, 'the scheduled calls');
      expect(await store.get('k')).toBe('later');
      await within(store.close(), 'close');
    });

    it('close() called by the body closes the store after the body commits', async () => {
      setDebugForTesting(debug);
      const fileSystem = new FaultFileSystem(9);
      const store = await openStore('/db', { fileSystem, segmentSizeBytes: 256 * 1024 });
      let closing: Promise<void> | undefined;
      const result = await within(store.transactionSync((tx) => {
        tx.put('k', 'body');
        closing = store.close();
        return 'done';
      }), 'the body');
      expect(result).toBe('done'); // its commit was ordered before close() began draining
      await within(closing!, 'close');
      const reopened = await openStore('/db', { fileSystem });
      expect(await reopened.get('k')).toBe('body');
      await reopened.close();
    });
  });
}
