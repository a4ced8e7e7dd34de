/**
 * The conflict log kept for an open transaction is bounded and counted. A serializable
 * transaction whose body waits keeps every later commit's entry (its keys, its
 * operation objects) in the log until it ends, up to transactionLifetimeMs (60 s): at
 * 100k commits/s that is millions of entries, and stats() showed none of it in its
 * memory figures. Measured in a child process (exp script, not kept: 1,000 B and 16 B
 * values, 20,000 and 100,000 puts with and without a transaction held open; debug off):
 * about 170-200 B of heap per logged commit of one put, whatever the value size (the log
 * does not keep the values alive), none of it in memoryBytes.
 *
 * Now the log counts an estimate of what it holds (stats().conflictLogBytes), and past
 * conflictLogSettings.bytesMax (64 MiB by default) it drops its oldest applied entries
 * down to half of it, as FoundationDB's resolvers forget conflict history past their
 * window (transaction_too_old). A transaction whose read version is below what was
 * dropped can no longer be checked: its commit is refused with TransactionLimitError
 * (`limit: 'conflictLog'`), nothing written; a new attempt reads above it and commits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, TransactionLimitError, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { conflictLogSettings } from '../src/transaction/conflict-log.js';

const defaultBytesMax = conflictLogSettings.bytesMax;
const stores: Store[] = [];

afterEach(async () => {
  conflictLogSettings.bytesMax = defaultBytesMax;
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

async function store(): Promise<Store> {
  const opened = await openStore('/db', { fileSystem: new FaultFileSystem(31) });
  stores.push(opened);
  await opened.put('a', 1);
  return opened;
}

/** A serializable transaction that reads 'a', waits for `release`, then writes 'b'. */
function heldTransaction(target: Store): { release: () => void; outcome: Promise<unknown> } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let read!: () => void;
  const hasRead = new Promise<void>((resolve) => { read = resolve; });
  const outcome = target.transaction(async (tx) => {
    await tx.get('a');
    read();
    await gate;
    tx.put('b', 'from the held transaction');
    return 'committed';
  }, { retries: 0 }).catch((error: unknown) => error);
  return { release, outcome: hasRead.then(() => outcome) };
}

async function putMany(target: Store, count: number): Promise<void> {
  for (let index = 0; index < count; index += 50) {
    await Promise.all(Array.from({ length: 50 }, (_unused, offset) => target.put(`k${String(index + offset).padStart(6, '0')}`, index + offset)));
  }
}

describe('the conflict log of an open transaction', () => {
  it('is counted in stats() (conflictLogBytes) while a transaction holds it, and freed after', async () => {
    const opened = await store();
    expect(opened.stats().conflictLogBytes).toBeLessThan(1_000); // at most the last commit, pruned at the next
    const held = heldTransaction(opened);
    await putMany(opened, 1_000);
    const stats = opened.stats();
    expect(stats.conflictLogEntries).toBeGreaterThanOrEqual(1_000);
    // Each entry's estimate: at least its key and an operation's overhead.
    expect(stats.conflictLogBytes).toBeGreaterThanOrEqual(1_000 * 100);
    held.release();
    expect(await held.outcome).toBe('committed');
    await opened.put('after', 1); // the next commit prunes the log
    expect(opened.stats().conflictLogBytes).toBeLessThan(1_000);
  });

  it('is bounded: past the bound its oldest entries go and the transaction that needed them is refused at commit, nothing written', async () => {
    conflictLogSettings.bytesMax = 64 * 1024;
    const opened = await store();
    const held = heldTransaction(opened);
    await putMany(opened, 2_000);
    expect(opened.stats().conflictLogBytes).toBeLessThanOrEqual(64 * 1024);
    expect(opened.stats().conflictLogEntries).toBeLessThan(2_000);
    held.release();
    const refused = await held.outcome;
    expect(refused).toBeInstanceOf(TransactionLimitError);
    expect(refused).toMatchObject({ code: 'LADYBUG_TRANSACTION_LIMIT', limit: 'conflictLog' });
    expect(await opened.get('b')).toBeUndefined();
    // A new attempt reads above what was dropped: checked and committed.
    expect(await opened.transaction(async (tx) => {
      await tx.get('a');
      tx.put('b', 'retried');
      return 'committed';
    })).toBe('committed');
    expect(await opened.get('b')).toBe('retried');
  });

  it('a transaction still checkable under the bound commits, and a conflict is still found', async () => {
    conflictLogSettings.bytesMax = 64 * 1024;
    const opened = await store();
    const held = heldTransaction(opened);
    await putMany(opened, 100); // well under the bound
    await opened.put('a', 2); // a write of the key it read: a conflict
    held.release();
    expect(await held.outcome).toMatchObject({ code: 'LADYBUG_CONFLICT' });
  });
});
