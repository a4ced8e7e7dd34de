/**
 * A transaction whose lifetime ends while its commit waits (here in the write stall,
 * behind a batch whose fdatasync is held) has lost its pin: the conflict log's horizon
 * may pass its read version, and the commits it must be checked against are pruned.
 * Its validation, under the commit lock, refuses it (TransactionLimitError lifetime)
 * instead of checking it against a log that no longer holds them: a lost update before.
 * No timing is asserted: the lifetime's end is awaited by its effect (the pin released),
 * held I/O comes from a gated file system.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TransactionLimitError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { settled } from './helpers.js';
import { gate } from './transaction-support.js';

const BUDGET_BYTES = 1024 * 1024;
/**
 * Long enough for the setup before the commit waits (a 3,000-put batch prepared, its
 * fdatasync held) on a loaded machine: at 200 ms the lifetime sometimes ended before it,
 * while the body still ran, and the transaction was refused for that instead.
 */
const LIFETIME_MS = 1500;

function largeBatch(): Array<{ type: 'put'; key: string; value: string }> {
  return Array.from({ length: 3000 }, (_unused, index) => ({ type: 'put' as const, key: `big/${String(index).padStart(5, '0')}`, value: `${index} `.padEnd(120, 'v') }));
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let step = 0; step < 2000 && !condition(); step++) await sleep(5);
  if (!condition()) throw new Error('condition never became true');
}

describe('a transaction whose lifetime ends while its commit waits for admission', () => {
  it('is refused at validation (TransactionLimitError lifetime), not committed over a write it did not see', async () => {
    const fileSystem = new GatedFileSystem(new FaultFileSystem(41));
    const store = await openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false, transactionLifetimeMs: LIFETIME_MS });
    await store.put('k', 0);
    const read = gate();
    const write = gate();
    const outcome = settled(store.transaction(async (tx) => {
      const value = (await tx.get('k')) as number;
      read.open();
      await write.promise;
      tx.put('k', value + 1);
    }, { retries: 0 }));
    await read.promise;
    // Commits above the transaction's read version: a conflict for it.
    await store.put('k', 5);
    fileSystem.armed = true;
    const big = settled(store.batch(largeBatch()));
    const held = await fileSystem.nextHeld();
    write.open();
    // The commit waits in the write stall until the lifetime's end takes the pin.
    await waitUntil(() => store.stats().pinnedReads === 0);
    expect(outcome.done).toBe(false);
    fileSystem.armed = false;
    held.release();
    await waitUntil(() => outcome.done && big.done);
    expect(big.error).toBeUndefined();
    expect(outcome.error).toBeInstanceOf(TransactionLimitError);
    expect((outcome.error as TransactionLimitError).limit).toBe('lifetime');
    expect(await store.get('k')).toBe(5);
    await store.close();
  });
});
