/**
 * Many stores in one process, each on its own file system, writing at once with small
 * budgets (so they flush and compact): a fault in one store (a failed WAL fdatasync,
 * a full disk under its flushes, a failed run fsync) leaves the others working. Each
 * other store acknowledges every write, reads back exactly what it was given, closes
 * cleanly and reopens with all of it; the faulted store reports its own failure (or,
 * for the full disk, keeps every acknowledged commit), nothing of it reaching another.
 * Process-wide state the stores share (the in-process lock tokens, the value slab
 * pool, the block inflater) must not carry one store's failure into another.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreFailedError, CommitOutcomeUnknownError, DiskFullError, type Store } from '../src/index.js';
import { FaultFileSystem, type FaultInjection } from '../src/fs/fault-file-system.js';
import { mulberry32 } from './support/seeded-random.js';

const STORES = 8;
const FAULTED = 3;
const ROUNDS = 12;
const BUDGET = 256 * 1024;

const stores: Store[] = [];
afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
});

function value(store: number, round: number, key: number): string {
  return `s${store}-r${round}-k${key}-${'x'.repeat(200)}`;
}

async function runWithFault(fault: FaultInjection, seed: number): Promise<{ faultedErrors: unknown[]; faultedFailed: boolean }> {
  const random = mulberry32(seed);
  const fileSystems = Array.from({ length: STORES }, (_, index) => new FaultFileSystem(seed * 100 + index));
  for (let index = 0; index < STORES; index++) {
    stores.push(await openStore('/store', { fileSystem: fileSystems[index], memoryBudgetBytes: BUDGET }));
  }
  const faultedErrors: unknown[] = [];
  const acknowledged = Array.from({ length: STORES }, () => new Map<string, string>());
  await Promise.all(stores.map(async (store, index) => {
    for (let round = 0; round < ROUNDS; round++) {
      if (index === FAULTED && round === 3) fileSystems[index]!.injectFault(fault);
      const operations = Array.from({ length: 40 }, (_, n) => {
        const key = `k${Math.floor(random() * 400)}`;
        return { type: 'put' as const, key, value: value(index, round, n) };
      });
      try {
        await store.batch(operations);
        for (const operation of operations) acknowledged[index]!.set(operation.key, operation.value);
      } catch (error) {
        if (index !== FAULTED) throw error;
        faultedErrors.push(error);
      }
    }
  }));
  // Every other store: exactly what it acknowledged, before and after a reopen.
  for (let index = 0; index < STORES; index++) {
    if (index === FAULTED) continue;
    const store = stores[index]!;
    expect(store.stats().failed, `store ${index}`).toBe(false);
    for (const [key, expected] of acknowledged[index]!) expect(await store.get(key), `store ${index} ${key}`).toBe(expected);
    await store.close();
    const reopened = await openStore('/store', { fileSystem: fileSystems[index], memoryBudgetBytes: BUDGET });
    for (const [key, expected] of acknowledged[index]!) expect(await reopened.get(key), `store ${index} reopened ${key}`).toBe(expected);
    await reopened.close();
  }
  // The faulted store: whatever it acknowledged is still there after it closed and reopened.
  const faultedFailed = stores[FAULTED]!.stats().failed;
  fileSystems[FAULTED]!.clearFaults();
  await stores[FAULTED]!.close().catch(() => undefined);
  stores.length = 0;
  const reopened = await openStore('/store', { fileSystem: fileSystems[FAULTED], memoryBudgetBytes: BUDGET });
  for (const [key, expected] of acknowledged[FAULTED]!) {
    const got = await reopened.get(key);
    // A commit whose outcome is unknown may have landed on top of an acknowledged one: it is one of this store's own values.
    if (got !== expected) expect(String(got)).toMatch(new RegExp(`^s${FAULTED}-`));
  }
  await reopened.close();
  return { faultedErrors, faultedFailed };
}

describe('a fault in one of many stores in a process', () => {
  it('a failed WAL fdatasync fails that store only', async () => {
    const { faultedErrors, faultedFailed } = await runWithFault({ operation: 'datasync', error: 'EIO', path: /wal-\d+\.log$/ }, 1);
    expect(faultedFailed).toBe(true);
    expect(faultedErrors.length).toBeGreaterThan(0);
    for (const error of faultedErrors) expect(error instanceof StoreFailedError || error instanceof CommitOutcomeUnknownError).toBe(true);
  });

  it('a full disk under one store\'s run writes leaves the others flushing', async () => {
    const { faultedErrors } = await runWithFault({ operation: 'write', error: 'ENOSPC', path: /runs\//, persistent: true }, 2);
    for (const error of faultedErrors) expect(error).toBeInstanceOf(DiskFullError);
  });

  it('a failed run fsync fails that store only', async () => {
    const { faultedErrors, faultedFailed } = await runWithFault({ operation: 'datasync', error: 'EIO', path: /runs\//, persistent: true }, 3);
    expect(faultedFailed).toBe(true);
    for (const error of faultedErrors) expect(error).toBeInstanceOf(StoreFailedError);
  });
});
