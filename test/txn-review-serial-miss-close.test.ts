/**
 * A transactionSync whose body missed in memory, its disk read in flight when the store's
 * close() begins. close() closes the run files under the read, and the transaction
 * rejected with that read's IoError (LADYBUG_IO, EBADF), an I/O failure where the store
 * was merely closed. It now rejects with StoreClosedError, as one waiting for admission
 * at close does (serial-close); nothing of it is written. The last, locked round holds the
 * commit lock across its disk reads, so close() waits for it: it commits (a control).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX } from '../src/limits.js';
import { closeStallStores, keepOpen, ReadGatedFileSystem } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

const COLD_KEYS = 12;
const coldKey = (index: number): string => `cold/${String(index).padStart(3, '0')}`;

/** COLD_KEYS keys of 16 KiB each (a block apiece: a read of one caches no other), in runs only, their reads gated. */
async function storeWithLargeColdKeys(): Promise<{ store: Store; fileSystem: ReadGatedFileSystem }> {
  const fault = new FaultFileSystem(71);
  const first = await openStore('/db', { fileSystem: fault });
  await first.batch(Array.from({ length: COLD_KEYS }, (_, index) => ({ type: 'put' as const, key: coldKey(index), value: `${index} `.padEnd(16 * 1024, 'v') })));
  await first.checkpoint();
  await first.close();
  const fileSystem = new ReadGatedFileSystem(fault);
  for (const name of await fault.readdir('/db/runs')) fileSystem.readGatedPaths.add(`/db/runs/${name}`);
  const store = await openStore('/db', { fileSystem, checkpointOnClose: false });
  keepOpen(store);
  return { store, fileSystem };
}

describe('transactionSync with a disk read in flight when close() begins', () => {
  /** Starts a body reading `keys` cold keys and lets its reads through until it runs in round `round`, its read held. */
  async function heldInRound(keys: number, round: number) {
    const { store, fileSystem } = await storeWithLargeColdKeys();
    fileSystem.readsArmed = true;
    let runs = 0;
    const serial = track(store.transactionSync((tx) => {
      runs++;
      const values = Array.from({ length: keys }, (_, index) => tx.get(coldKey(index * 2)));
      tx.put('copy', values.map((value) => (value as string).length));
      return values.length;
    }));
    for (;;) {
      await settleUntil(() => fileSystem.heldReads.length > 0);
      if (runs >= round) break;
      fileSystem.heldReads.shift()!();
    }
    fileSystem.readsArmed = false; // the reads left to come are not held
    expect(serial.settled).toBe(false);
    return { store, fileSystem, serial };
  }

  it('in a prefetch round: StoreClosedError, not the read\'s IoError; nothing written', async () => {
    const { store, fileSystem, serial } = await heldInRound(1, 1);
    const closing = store.close();
    await settle();
    fileSystem.releaseReads();
    await settleUntil(() => serial.settled);
    await closing;
    expect(serial.error).toBeInstanceOf(StoreClosedError);
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner });
    keepOpen(reopened);
    expect(await reopened.get('copy')).toBeUndefined();
  });

  it('in the locked round, which holds the commit lock: close() waits for it and it commits', async () => {
    const keys = SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 2;
    const { store, fileSystem, serial } = await heldInRound(keys, SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 1);
    const closing = track(store.close());
    await settle();
    expect(closing.settled).toBe(false);
    fileSystem.releaseReads();
    await settleUntil(() => serial.settled && closing.settled);
    expect(serial.error).toBeUndefined();
    expect(serial.value).toBe(keys);
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner });
    keepOpen(reopened);
    expect(await reopened.get('copy')).toEqual(Array.from({ length: keys }, () => 16 * 1024));
  });
});
