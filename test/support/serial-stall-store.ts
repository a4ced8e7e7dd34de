/**
 * A store for the write-stall rejoin tests of transactionSync (serial-stall-rejoin,
 * review5-serial-rejoin-close): COLD_KEYS keys in runs only, on a file system that holds
 * the WAL's fdatasync while armed (GatedFileSystem) and the reads of the run files while
 * readsArmed, so a test can hold a stall (an oversized batch, largeBatch) and a
 * transaction's disk read at the points it chooses. closeStallStores() in afterEach
 * releases whatever is held and closes every store opened here or handed to keepOpen.
 */
import { expect } from 'vitest';
import { FaultFileSystem } from '../../src/fs/fault-file-system.js';
import type { FileHandle } from '../../src/fs/file-system.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { GatedFileSystem, replaceMethods } from './file-system-wrappers.js';

export const BUDGET_BYTES = 1024 * 1024;
/** Keys of one batch well above the sealed memtables' share of the budget: the writers behind it wait for its apply. */
export const LARGE_BATCH_KEYS = 3000;
export const COLD_KEYS = 200;
export const LATE_WRITERS = 5;

/** GatedFileSystem (WAL datasync held while armed; no readSync), whose reads of `readGatedPaths` wait while readsArmed. */
export class ReadGatedFileSystem extends GatedFileSystem {
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

/** For afterEach: releases what is held, closes the stores. */
export async function closeStallStores(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
}

/** Closed by closeStallStores (a store a test opens itself, e.g. a reopen). */
export function keepOpen(store: Store): void {
  openStores.push(store);
}

export function largeBatch(prefix: string): Array<{ type: 'put'; key: string; value: string }> {
  return Array.from({ length: LARGE_BATCH_KEYS }, (_, index) => ({ type: 'put' as const, key: `${prefix}/${String(index).padStart(5, '0')}`, value: `${index} `.padEnd(120, 'v') }));
}

/** A store whose COLD_KEYS keys are in runs only (written, checkpointed, reopened: no cache holds them). */
export async function storeWithColdKeys(): Promise<{ store: Store; fileSystem: ReadGatedFileSystem }> {
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
