/**
 * A transaction() body still running when its lifetime ends: transaction() rejects
 * with TransactionLimitError ('lifetime') then, and when the body resumes, its tx says
 * the same (every method throws or rejects with TransactionLimitError 'lifetime'), as
 * it says StoreClosedError after close() reached it. Before, the resumed body got
 * TransactionClosedError, "transaction is finished: cannot put (use the tx only inside
 * its callback)", from inside its own callback. Nothing of it is written either way.
 */
import { describe, expect, it } from 'vitest';
import { openStore, TransactionLimitError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { gate } from './transaction-support.js';

function lifetimeError(error: unknown): boolean {
  return error instanceof TransactionLimitError && error.limit === 'lifetime';
}

describe('a body that resumes after its lifetime ended', () => {
  it('its tx throws TransactionLimitError (lifetime) from every method; nothing is written', async () => {
    // 1.5 s, not 30 ms: the body's first read must finish inside the lifetime (else the body
    // ends there and never waits to be resumed), which a loaded machine's pause could break.
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(31), transactionLifetimeMs: 1_500 });
    await store.put('k', 1);
    const resume = gate();
    const uses: Record<string, unknown> = {};
    let kept: TransactionHandle | undefined;
    const resumed = gate();
    const call = store.transaction(async (tx) => {
      kept = tx;
      await tx.get('k');
      await resume.promise;
      for (const [name, use] of Object.entries({
        put: () => tx.put('k', 2),
        delete: () => tx.delete('k'),
        scan: () => tx.scan(),
      })) {
        try { use(); uses[name] = 'no error'; } catch (error) { uses[name] = error; }
      }
      uses.get = await tx.get('k').then(() => 'no error', (error: unknown) => error);
      uses.requireLease = await tx.requireLease('job', 1).then(() => 'no error', (error: unknown) => error);
      resumed.open();
    }).then(() => 'resolved', (error: unknown) => error);
    // transaction() settles when the lifetime ends (known-transaction-lifetime-stuck), the body still waiting.
    expect(lifetimeError(await call)).toBe(true);
    expect(kept).toBeDefined();
    expect(store.stats().pinnedReads).toBe(0);
    resume.open();
    await resumed.promise;
    for (const [name, error] of Object.entries(uses)) expect(lifetimeError(error), `${name}: ${String(error)}`).toBe(true);
    expect(() => kept!.put('k', 3)).toThrow(TransactionLimitError);
    expect(await store.get('k')).toBe(1);
    await store.close();
  });
});
