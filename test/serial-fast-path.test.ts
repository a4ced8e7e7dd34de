/**
 * store.transactionSync()'s synchronous first round (src/transaction/serial-transaction.ts,
 * runSerialTransaction): the common case runs the body in the call itself and answers
 * without an async frame; everything else continues in the async rounds. These tests
 * pin what the split must keep: a transaction started while another's locked section
 * holds the commit lock across a disk read waits its turn in call order (FIFO) and
 * reads the state the section left; misuse and a closed store reject, never throw.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, openStore, StoreClosedError, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX } from '../src/limits.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { settle, settleUntil, track } from './transaction-support.js';

const openStores: Store[] = [];
const releases: Array<() => void> = [];

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

/** Holds run-file reads while `readsArmed`, until the test releases them. */
class ReadGatedFileSystem extends ForwardingFileSystem {
  readsArmed = false;
  readonly heldReads: Array<() => void> = [];

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      read: async (buffer, offset, length, position) => {
        if (this.readsArmed && /runs\//.test(path)) await new Promise<void>((release) => this.heldReads.push(release));
        return handle.read(buffer, offset, length, position);
      },
    });
  }
}

/** A store whose keys k000..k199 (500-byte values, a few per block) live only in run files. */
async function coldStore(): Promise<{ store: Store; gated: ReadGatedFileSystem }> {
  const fault = new FaultFileSystem(17);
  const first = await openStore('/db', { fileSystem: fault, segmentSizeBytes: 64 * 1024 });
  const pad = 'v'.repeat(500);
  for (let start = 0; start < 200; start += 50) {
    await first.batch(Array.from({ length: 50 }, (_unused, offset) => ({ type: 'put' as const, key: `k${String(start + offset).padStart(3, '0')}`, value: `${start + offset}:${pad}` })));
  }
  await first.checkpoint();
  await first.close();
  const gated = new ReadGatedFileSystem(fault);
  const store = await openStore('/db', { fileSystem: gated, segmentSizeBytes: 64 * 1024 });
  openStores.push(store);
  releases.push(() => {
    gated.readsArmed = false;
    for (const release of gated.heldReads.splice(0)) release();
  });
  return { store, gated };
}

describe('transactionSync: first round in the call, the rest in order', () => {
  it('transactions started while a locked section awaits a disk read run after it, in call order, on its state', async () => {
    const { store, gated } = await coldStore();
    await store.put('counter', 0);
    // More cold keys than prefetch rounds: the body reaches the locked fallback.
    const cold = Array.from({ length: SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 3 }, (_unused, index) => `k${String(10 + index * 17).padStart(3, '0')}`);
    let attempts = 0;
    const locked = track(store.transactionSync((tx) => {
      attempts++;
      // The first locked attempt: hold its disk read, so the section keeps the commit lock.
      if (attempts === SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 1) gated.readsArmed = true;
      for (const key of cold) tx.get(key);
      tx.put('counter', 100);
      return 'locked';
    }));
    await settleUntil(() => gated.heldReads.length > 0);
    expect(attempts).toBe(SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 1);
    // The commit lock is held across that read: these cannot take the first round's sync path.
    const order: number[] = [];
    const later = Array.from({ length: 5 }, (_unused, index) => track(store.transactionSync((tx) => {
      order.push(index);
      const counter = tx.get('counter') as number;
      tx.put('counter', counter + 1);
      return counter;
    })));
    await settle();
    expect(order).toEqual([]);
    expect(later.some((transaction) => transaction.settled)).toBe(false);
    gated.readsArmed = false;
    for (const release of gated.heldReads.splice(0)) release();
    await settleUntil(() => locked.settled && later.every((transaction) => transaction.settled));
    expect(locked.error).toBeUndefined();
    expect(locked.value).toBe('locked');
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(later.map((transaction) => transaction.value)).toEqual([100, 101, 102, 103, 104]);
    expect(await store.get('counter')).toBe(105);
  });

  it('a body that is not a function, or a closed store, rejects the promise and never throws at the call', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(3) });
    let notFunction: Promise<unknown> | undefined;
    expect(() => {
      notFunction = store.transactionSync(42 as never);
    }).not.toThrow();
    await expect(notFunction).rejects.toBeInstanceOf(InvalidOptionError);
    await store.close();
    let closed: Promise<unknown> | undefined;
    let ran = false;
    expect(() => {
      closed = store.transactionSync(() => {
        ran = true;
      });
    }).not.toThrow();
    await expect(closed).rejects.toBeInstanceOf(StoreClosedError);
    expect(ran).toBe(false);
  });

  it('answers a committing body with its result, a throwing one with its error, a read-only one with its result', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(5) });
    openStores.push(store);
    expect(await store.transactionSync((tx) => {
      tx.put('a', 1);
      return 'wrote';
    })).toBe('wrote');
    const failure = new Error('body failed');
    await expect(store.transactionSync((tx) => {
      tx.put('a', 2);
      throw failure;
    })).rejects.toBe(failure);
    expect(await store.transactionSync((tx) => tx.get('a'))).toBe(1);
    expect(await store.get('a')).toBe(1);
  });
});
