/**
 * A flushed memtable is counted in stats() until its flush has ended: once a flush
 * installed its run and retired its memtable, the rest of the flush (releasing its
 * values for reuse, prepopulating the cache, removing the WAL the run covers) still
 * holds that memtable, whose keys and chains stay live; stats() counted it only while
 * the release of its values ran, and the caches were meanwhile given its room back.
 * Measured with the flush held at its first WAL segment removal (64 MiB budget, 100 B
 * values), heap growth against stats().memoryBytes growth (forced collections).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
afterEach(removeTemporaryDirectories);
const MEBIBYTE = 1024 * 1024;

function heapBytes(): number {
  for (let round = 0; round < 4; round++) collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Holds the first removal of a covered WAL segment (a rename into the pool or an unlink) until `release`. */
class WalRemovalGate extends ForwardingFileSystem {
  armed = false;
  release: (() => void) | undefined;
  reached: (() => void) | undefined;
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  async #hold(path: string): Promise<void> {
    if (!this.armed || !/\/wal\/wal-\d+\.log$/.test(path)) return;
    this.armed = false;
    await new Promise<void>((resolve) => {
      this.release = resolve;
      this.reached?.();
    });
  }
  override async rename(from: string, to: string): Promise<void> {
    await this.#hold(from);
    return this.inner.rename(from, to);
  }
  override async unlink(path: string): Promise<void> {
    await this.#hold(path);
    return this.inner.unlink(path);
  }
}

describe('a retired memtable while its flush ends', () => {
  it('is counted in stats() for as long as the flush holds it', async () => {
    const gate = new WalRemovalGate(new NodeFileSystem());
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 64 * MEBIBYTE, fileSystem: gate, walCheckpointBytes: 1024 * MEBIBYTE });
    await store.put('warm', new Uint8Array(100));
    const base = heapBytes();
    const countedBase = store.stats().memoryBytes;
    const reached = new Promise<void>((resolve) => (gate.reached = resolve));
    gate.armed = true;
    let index = 0;
    while (store.stats().storage.flushes === 0 && store.stats().storage.immutableMemtables === 0) {
      const value = new Uint8Array(100).fill(index & 255);
      await store.batch(Array.from({ length: 100 }, () => ({ type: 'put' as const, key: `k${String(index++).padStart(8, '0')}`, value })));
    }
    await reached;
    const grown = heapBytes() - base;
    const counted = store.stats().memoryBytes - countedBase;
    console.log(`held at the WAL removal: heap grew ${(grown / MEBIBYTE).toFixed(1)} MiB, stats() counted ${(counted / MEBIBYTE).toFixed(1)} MiB`);
    gate.release?.();
    await store.close();
    expect(grown - counted).toBeLessThan(2 * MEBIBYTE);
  }, 60_000);
});
