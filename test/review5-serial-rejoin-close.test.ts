/**
 * A transactionSync that rejoined the write stall's queue at the front after a read
 * miss (serial-transaction.ts, WriteStall#admit's rejoin) and the store closed while
 * it waits there: the transaction fails with StoreClosedError once let through (its
 * round checks the store is open after the admission) and commits nothing, the writers
 * queued behind it are not held by it, close completes, and the reopened store holds
 * no write of the transaction. Interleaving forced as in serial-stall-rejoin.test.ts:
 * an oversized batch's WAL fdatasync held, the transaction's disk read held.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { ErrorCode } from '../src/errors.js';
import { GatedFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { settleUntil, track } from './transaction-support.js';

const BUDGET_BYTES = 1024 * 1024;
/** Keys of one batch well above the sealed memtables' share of the budget: the writers behind it wait for its apply. */
const LARGE_BATCH_KEYS = 3000;
const COLD_KEYS = 200;
const LATE_WRITERS = 5;

/** GatedFileSystem (WAL datasync held while armed; no readSync), whose reads of `readGatedPaths` wait while readsArmed. */
class ReadGatedFileSystem extends GatedFileSystem {
  readsArmed = false;
  readGatedPaths = new Set<string>();
  readonly heldReads: Array<() => void> = [];

  protected override wrapHandle(handle: FileHandle, path: string): FileHandle {
    const gated = super.wrapHandle(handle, path);
    return replaceMethods(gated, {
      read: async (buffer, offset, length, position) => {
        if (this.readsArmed && this.readGatedPaths.has(path)) await new Promise<void>((release) => this.heldReads.push(release));
        return handle.read(buffer, offset, length, position);
      },
    });
  }

  releaseReads(): void {
    this.readsArmed = false;
    for (const release of this.heldReads.splice(0)) release();
  }
}

const openStores: Store[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

function largeBatch(prefix: string): Array<{ type: 'put'; key: string; value: string }> {
  return Array.from({ length: LARGE_BATCH_KEYS }, (_, index) => ({ type: 'put' as const, key: `${prefix}/${String(index).padStart(5, '0')}`, value: `${index} `.padEnd(120, 'v') }));
}

/** A store whose COLD_KEYS keys are in runs only (written, checkpointed, reopened: no cache holds them). */
async function storeWithColdKeys(): Promise<{ store: Store; fileSystem: ReadGatedFileSystem }> {
  const fault = new FaultFileSystem(61);
  const first = await openStore('/db', { fileSystem: fault, memoryBudgetBytes: BUDGET_BYTES });
  await first.batch(Array.from({ length: COLD_KEYS }, (_, index) => ({ type: 'put' as const, key: `cold/${String(index).padStart(3, '0')}`, value: `cold ${index}` })));
  await first.checkpoint();
  await first.close();
  const fileSystem = new ReadGatedFileSystem(fault);
  for (const name of await fault.readdir('/db/runs')) fileSystem.readGatedPaths.add(`/db/runs/${name}`);
  expect(fileSystem.readGatedPaths.size).toBeGreaterThan(0);
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
  openStores.push(store);
  cleanups.push(() => {
    fileSystem.releaseReads();
    fileSystem.releaseAll();
  });
  return { store, fileSystem };
}

describe('a transactionSync rejoined in the write stall when the store closes', () => {
  it('fails with StoreClosedError, commits nothing, and holds neither the writers behind it nor close', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.armed = true;
    const first = track(store.batch(largeBatch('first')));
    const firstHeld = await fileSystem.nextHeld();
    fileSystem.readsArmed = true;
    let rounds = 0;
    const serial = track(store.transactionSync((tx) => {
      rounds++;
      tx.put('serial', tx.get('cold/123'));
    }));
    await settleUntil(() => store.stats().storage.writeStalls === 1);
    firstHeld.release();
    await settleUntil(() => fileSystem.heldReads.length > 0 && first.settled);
    const second = track(store.batch(largeBatch('second')));
    const secondHeld = await fileSystem.nextHeld();
    const stallsBefore = store.stats().storage.writeStalls;
    const late = Array.from({ length: LATE_WRITERS }, (_, index) => track(store.put('late', index)));
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS);
    fileSystem.releaseReads();
    // The transaction's second round waits in the queue, at its front.
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS + 1);
    expect(rounds).toBe(1);
    const closing = track(store.close());
    fileSystem.armed = false;
    secondHeld.release();
    await settleUntil(() => serial.settled && second.settled && closing.settled && late.every((writer) => writer.settled));
    expect(closing.error).toBeUndefined();
    expect(rounds).toBe(1);
    expect(serial.error).toMatchObject({ code: ErrorCode.StoreClosed });
    for (const writer of late) expect(writer.error ?? 'committed').toSatisfy((outcome: unknown) => outcome === 'committed' || (outcome as { code?: string }).code === ErrorCode.StoreClosed);
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner });
    openStores.push(reopened);
    expect(await reopened.get('serial')).toBeUndefined();
    expect(await reopened.get('cold/123')).toBe('cold 123');
  });
});
