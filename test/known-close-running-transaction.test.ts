/**
 * close() and transactions whose body is still running. A body that never settled
 * (`await new Promise(() => {})`) left its transaction() promise pending for ever after
 * close() (close itself resolved), and a body that went on after close() could still
 * tx.get and tx.put on the closed store, to be refused only at its commit. Now close()
 * settles every running body's transaction() with StoreClosedError (close is where it
 * could never commit: the commit checks the store is open), and the tx refuses every
 * later use with StoreClosedError (a body stuck past its lifetime was settled then:
 * known-transaction-lifetime-stuck). A transaction
 * whose commit is under way when close() begins still commits, as close waits for
 * in-flight commits.
 */
import { describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { gate, gatedStore, memoryStore, settle, settleUntil, track } from './transaction-support.js';

describe('close() with a transaction body still running', () => {
  it('a body that never settles: its transaction() rejects with StoreClosedError once close() begins', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    let started = false;
    const stuck = track(store.transaction(async (tx) => {
      await tx.get('a');
      started = true;
      await new Promise(() => {});
    }));
    await settleUntil(() => started);
    await store.close();
    await settle();
    expect(stuck.settled).toBe(true);
    expect(stuck.error).toBeInstanceOf(StoreClosedError);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('a body that resumes after close(): tx.get, tx.put, tx.delete and tx.scan throw StoreClosedError; nothing is written', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
    const resume = gate();
    let started = false;
    const uses: unknown[] = [];
    const body = track(store.transaction(async (tx) => {
      await tx.get('a');
      started = true;
      await resume.promise;
      for (const use of [() => tx.get('a'), () => tx.put('b', 2), () => tx.delete('a'), () => tx.scan()[Symbol.asyncIterator]().next()]) {
        uses.push(await Promise.resolve().then(use).then(() => 'no error', (error: unknown) => error));
      }
    }));
    await settleUntil(() => started);
    const closing = store.close();
    await settle();
    // Settled by close, not by the body (still waiting on its gate).
    expect(body.settled).toBe(true);
    expect(body.error).toBeInstanceOf(StoreClosedError);
    await closing;
    resume.open();
    await settleUntil(() => uses.length === 4);
    for (const use of uses) expect(use).toBeInstanceOf(StoreClosedError);
    const reopened = await openStore('/db', { fileSystem });
    expect(await reopened.get('a')).toBe(1);
    expect(await reopened.get('b')).toBe(undefined);
    await reopened.close();
  });

  it('a transaction whose commit is under way when close() begins still commits', async () => {
    const { store, gated, fault } = await gatedStore();
    await store.put('a', 1);
    gated.armed = true;
    const committing = track(store.transaction(async (tx) => {
      tx.put('a', (await tx.get('a') as number) + 1);
    }));
    const held = await gated.nextHeld();
    const closing = store.close();
    await settle();
    expect(committing.settled).toBe(false);
    gated.armed = false;
    held.release();
    await closing;
    expect(committing.settled).toBe(true);
    expect(committing.error).toBe(undefined);
    const reopened = await openStore('/db', { fileSystem: fault });
    expect(await reopened.get('a')).toBe(2);
    await reopened.close();
  });
});
