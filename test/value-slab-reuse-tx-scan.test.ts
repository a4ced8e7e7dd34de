/**
 * A transaction's scan merges the transaction's own buffered writes into what it reads
 * (src/transaction/transaction.ts). Its own writes are values carved from the commit
 * path's slabs (src/codec/slab-pool.ts): once the transaction commits, they are in a
 * memtable like any put, and the drop of that memtable releases them, unless a read view
 * captured it; the transaction's view was taken before, so it did not.
 *
 * A scan step awaiting the runs (its run cursor's read from the file) while the body
 * returns, the commit lands and later memtables are flushed and their slabs carved again,
 * must not hand out another put's bytes for the transaction's own write when the read
 * resolves. The runs' reads are held by a file system that passes every call through and
 * holds reads of the run files written before the hold.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { commitSlabPool } from '../src/codec/value-slabs.js';
import { TransactionClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { HoldingFileSystem } from './support/holding-file-system.js';

const OPTIONS = { memoryBudgetBytes: 3 * 1024 * 1024, segmentSizeBytes: 64 * 1024 } as const;
const VALUE_BYTES = 4000;
const OWN_WRITES = 14; // 56 KB: one commit (the limit follows the 64 KiB segment)

function valueOf(index: number, round: number): Uint8Array {
  const bytes = new Uint8Array(VALUE_BYTES);
  for (let offset = 0; offset < VALUE_BYTES; offset++) bytes[offset] = (offset * 13 + index * 7 + round * 101) & 0xff;
  return bytes;
}

async function writeRound(store: Store, round: number, prefix: string, keys = 120): Promise<void> {
  for (let index = 0; index < keys; index += 8) {
    await Promise.all(Array.from({ length: Math.min(8, keys - index) }, (_, offset) => store.put(`${prefix}${String(index + offset).padStart(4, '0')}`, valueOf(index + offset, round))));
  }
}

describe('a transaction scan step pending across its own commit', () => {
  it('never reads its own write from a slab carved again', async () => {
    const fault = new FaultFileSystem(37);
    const holding = new HoldingFileSystem(fault);
    // Round 1 of key-* in runs, then a fresh open: no reader and no cached block of them yet.
    let store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await writeRound(store, 1, 'key-');
    await store.checkpoint();
    await store.close();
    store = await openStore('/db', { ...OPTIONS, fileSystem: holding.proxy() });
    try {
      for (const name of await fault.readdir('/db/runs')) holding.held.add(`/db/runs/${name}`);
      expect(holding.held.size).toBeGreaterThan(0);
      holding.hold();
      let pending: Promise<IteratorResult<[string | Uint8Array, unknown]>> | undefined;
      await store.transaction(async (tx) => {
        // Memtables sealed after the transaction's view: its commit lands in one the view never captured.
        await writeRound(store, 2, 'other-');
        for (let index = 0; index < OWN_WRITES; index++) tx.put(`k-own-${String(index).padStart(4, '0')}`, valueOf(index, 99));
        // The first step reads the runs (held); the body ends meanwhile and the transaction commits.
        pending = tx.scan({ gte: 'k', lt: 'l' })[Symbol.asyncIterator]().next();
        pending.catch(() => undefined);
      });
      // The commit's memtable is flushed and dropped; later puts carve released slabs again.
      const reused = commitSlabPool.counts.reused;
      for (let round = 3; round < 9; round++) await writeRound(store, round, 'other-');
      expect(store.stats().sinceOpen.flushes).toBeGreaterThan(2);
      expect(commitSlabPool.counts.reused - reused).toBeGreaterThan(0);
      expect(holding.heldReads).toBeGreaterThan(0);
      holding.letGo();
      // Either the scan refuses to go on after its transaction ended, or it reads the transaction's own bytes.
      let result: IteratorResult<[string | Uint8Array, unknown]> | undefined;
      try {
        result = await pending!;
      } catch (error) {
        expect(error).toBeInstanceOf(TransactionClosedError);
        return;
      }
      expect(result.done).toBe(false);
      const [key, value] = result.value as [string, Uint8Array];
      expect(key).toBe('k-own-0000');
      expect(Buffer.from(value).equals(Buffer.from(valueOf(0, 99)))).toBe(true);
    } finally {
      holding.letGo();
      await store.close();
    }
  });
});
