/**
 * A change feed whose catch-up reads history from the runs (flushed, reopened: nothing in
 * memory), its disk read in flight when close() begins. close() closes the run files under
 * the read; README: a feed's next step after close rejects with StoreClosedError, so the
 * step in flight must not reject with the IoError (EBADF) of the closed file. A catch-up that
 * ends while the store is open answers every change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { BUDGET_BYTES, closeStallStores, COLD_KEYS, keepOpen, ReadGatedFileSystem, storeWithColdKeys } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

const MANY_KEYS = 4000;

/** MANY_KEYS keys of 1 KB in runs only, more than the block cache of a 1 MiB budget holds. */
async function storeWithManyColdKeys(): Promise<{ store: Store; fileSystem: ReadGatedFileSystem }> {
  const fault = new FaultFileSystem(67);
  const first = await openStore('/db', { fileSystem: fault, memoryBudgetBytes: BUDGET_BYTES });
  for (let from = 0; from < MANY_KEYS; from += 500) {
    await first.batch(Array.from({ length: 500 }, (_, index) => ({ type: 'put' as const, key: `many/${String(from + index).padStart(5, '0')}`, value: `${from + index} `.padEnd(1024, 'v') })));
  }
  await first.checkpoint();
  await first.close();
  const fileSystem = new ReadGatedFileSystem(fault);
  for (const name of await fault.readdir('/db/runs')) fileSystem.readGatedPaths.add(`/db/runs/${name}`);
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
  keepOpen(store);
  return { store, fileSystem };
}

describe('a watch catch-up reading from the runs when close() begins', () => {
  it('the step in flight rejects with StoreClosedError, not an IoError of the closed run file', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    const feed = store.watch({ sinceVersion: 0, untilVersion: store.version });
    fileSystem.readsArmed = true;
    const outcome = track(feed.next());
    await settleUntil(() => fileSystem.heldReads.length > 0);
    expect(fileSystem.heldReads.length).toBeGreaterThan(0);
    const closing = store.close();
    await settle();
    fileSystem.releaseReads();
    await settleUntil(() => outcome.settled);
    await closing;
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
    await expect(feed.next()).resolves.toMatchObject({ done: true });
  });

  it('a later catch-up batch (the first delivered) in flight: StoreClosedError too', async () => {
    const { store, fileSystem } = await storeWithManyColdKeys();
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 16 });
    // Steps that do not read (the batch in memory, the block cache) answer; the first that reads from disk is held.
    fileSystem.readsArmed = true;
    let delivered = 0;
    let outcome = track(feed.next());
    for (;;) {
      await settleUntil(() => outcome.settled || fileSystem.heldReads.length > 0);
      if (fileSystem.heldReads.length > 0 && delivered > 0) break;
      if (fileSystem.heldReads.length > 0) {
        fileSystem.releaseReads();
        await settleUntil(() => outcome.settled);
        fileSystem.readsArmed = true;
      }
      expect(outcome.value).toMatchObject({ done: false });
      delivered++;
      outcome = track(feed.next());
    }
    expect(delivered).toBe(16);
    expect(fileSystem.heldReads.length).toBeGreaterThan(0);
    const closing = store.close();
    await settle();
    fileSystem.releaseReads();
    await settleUntil(() => outcome.settled);
    await closing;
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
  });

  it('a catch-up whose read ends while the store is open answers every change', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    const feed = store.watch({ sinceVersion: 0, untilVersion: store.version });
    fileSystem.readsArmed = true;
    const outcome = track(feed.next());
    await settleUntil(() => fileSystem.heldReads.length > 0);
    fileSystem.releaseReads();
    await settleUntil(() => outcome.settled);
    expect(outcome.error).toBeUndefined();
    let changes = 1;
    for await (const _change of feed) changes++;
    expect(changes).toBe(COLD_KEYS);
  });
});
