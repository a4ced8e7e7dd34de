/**
 * transactionSync() is held to transactionLifetimeMs, as transaction() is. Its lifetime
 * runs from the moment its body first runs to the end of the run whose writes would
 * commit, re-runs included (a body that read a key only the disk held runs again after
 * the read); the wait before the first run (write stall, a busy commit lock) is not
 * counted. Past it: TransactionLimitError ('lifetime') and nothing commits. It was not
 * checked at all: a body that took longer than the lifetime, alone or with its re-runs,
 * committed.
 *
 * The clock (performance.now) is moved by the body itself, so no real time is measured.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, TransactionLimitError, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';

const LIFETIME_MS = 1_000;
let offsetMs = 0;
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  offsetMs = 0;
});

/** performance.now() runs `offsetMs` ahead of the real clock; the body moves it. */
function movableClock(): void {
  const real = performance.now.bind(performance);
  vi.spyOn(performance, 'now').mockImplementation(() => real() + offsetMs);
}

/** A store whose key 'cold' only the disk holds, with reads that must wait (each first read of it is a miss). */
async function coldStore(): Promise<Store> {
  const fileSystem = new NoReadSyncFileSystem(new FaultFileSystem(7));
  const first = await openStore('/db', { fileSystem });
  await first.put('cold', 40);
  await first.checkpoint();
  await first.close();
  const store = await openStore('/db', { fileSystem, transactionLifetimeMs: LIFETIME_MS });
  stores.push(store);
  return store;
}

describe('transactionSync() and transactionLifetimeMs', () => {
  it('refuses a body that runs longer than the lifetime: TransactionLimitError, nothing written', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(3), transactionLifetimeMs: LIFETIME_MS });
    stores.push(store);
    await store.put('a', 1);
    movableClock();
    const refused = store.transactionSync((tx) => {
      tx.put('a', 2);
      offsetMs += LIFETIME_MS + 1;
      return 'done';
    });
    await expect(refused).rejects.toBeInstanceOf(TransactionLimitError);
    await expect(refused).rejects.toMatchObject({ code: 'LADYBUG_TRANSACTION_LIMIT', limit: 'lifetime' });
    expect(await store.get('a')).toBe(1);
    // Within the lifetime it commits.
    expect(await store.transactionSync((tx) => {
      tx.put('a', 3);
      offsetMs += LIFETIME_MS - 1;
      return 'done';
    })).toBe('done');
    expect(await store.get('a')).toBe(3);
  });

  it('counts the re-runs after a disk read: two runs of 0.6 lifetimes each are refused, nothing written', async () => {
    const store = await coldStore();
    movableClock();
    let runs = 0;
    const refused = store.transactionSync((tx) => {
      runs++;
      offsetMs += LIFETIME_MS * 0.6;
      const cold = tx.get('cold') as number;
      tx.put('cold', cold + 1);
      tx.put('other', cold);
    });
    await expect(refused).rejects.toMatchObject({ code: 'LADYBUG_TRANSACTION_LIMIT', limit: 'lifetime' });
    expect(runs).toBe(2);
    expect(await store.get('cold')).toBe(40);
    expect(await store.get('other')).toBeUndefined();
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('commits a body whose runs together stay within the lifetime', async () => {
    const store = await coldStore();
    movableClock();
    let runs = 0;
    const result = await store.transactionSync((tx) => {
      runs++;
      offsetMs += LIFETIME_MS * 0.4;
      const cold = tx.get('cold') as number;
      tx.put('cold', cold + 1);
      return cold;
    });
    expect(result).toBe(40);
    expect(runs).toBe(2);
    expect(await store.get('cold')).toBe(41);
  });

  it('stops re-running once the lifetime is spent: no run starts after it', async () => {
    const store = await coldStore();
    movableClock();
    let runs = 0;
    const refused = store.transactionSync((tx) => {
      runs++;
      offsetMs += LIFETIME_MS + 1;
      return tx.get('cold');
    });
    await expect(refused).rejects.toMatchObject({ code: 'LADYBUG_TRANSACTION_LIMIT', limit: 'lifetime' });
    expect(runs).toBe(1);
  });
});
