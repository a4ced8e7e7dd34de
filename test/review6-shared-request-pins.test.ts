/**
 * The shared read request (87d6f16): every transaction attempt reading as of one version
 * with one pin floor reads through one request object. Two attempts start at the same
 * version; one reads from memory and ends (its pin released) while the other's read of a
 * key waits on the runs (the reads of the run files held); meanwhile the key gets five
 * newer versions under maxVersionsPerKey 1 and a flush. The waiting read answers the
 * value as of its version, a plain get beside it the newest, and the waiting attempt's
 * write conflicts (retries 0: ConflictError), nothing written by it. No timing: the held
 * reads are released by the test.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { gate } from './transaction-support.js';
import { HoldingFileSystem } from './support/holding-file-system.js';

const OPTIONS = { memoryBudgetBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024, maxVersionsPerKey: 1, checkpointOnClose: false } as const;

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then((value) => ({ value }), (error: unknown) => ({ error }));
}

describe('two transactions at one read version, one ending while the other reads the runs', () => {
  it('the remaining read answers as of its version; its write conflicts', async () => {
    const fault = new FaultFileSystem(61);
    let store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    for (let index = 0; index < 50; index++) await store.put(`f${String(index).padStart(3, '0')}`, index);
    await store.put('x', 0);
    await store.checkpoint();
    await store.close();
    const holding = new HoldingFileSystem(fault);
    store = await openStore('/db', { ...OPTIONS, fileSystem: holding.proxy() });
    try {
      await store.put('m', 'memory');
      for (const name of await fault.readdir('/db/runs')) holding.held.add(`/db/runs/${name}`);
      expect(holding.held.size).toBeGreaterThan(0);
      holding.hold();
      const readStarted = gate();
      let seen: unknown;
      const readVersions: number[] = [];
      const waiting = settle(store.transaction(async (tx) => {
        readVersions.push(tx.readVersion);
        const pending = tx.get('x');
        readStarted.open();
        seen = await pending;
        tx.put('x', (seen as number) + 100);
      }, { retries: 0 }));
      const ending = store.transaction(async (tx) => {
        readVersions.push(tx.readVersion);
        return tx.get('m');
      });
      await readStarted.promise;
      expect(await ending).toBe('memory');
      expect(readVersions[0]).toBe(readVersions[1]);
      // The ending attempt's pin is gone; the waiting one's holds the version alone.
      expect(store.stats().pinnedReads).toBe(1);
      for (let tick = 0; tick < 20 && holding.heldReads === 0; tick++) await new Promise((resolve) => setImmediate(resolve));
      expect(holding.heldReads, 'the read of x waits on the runs').toBeGreaterThan(0);
      expect(seen).toBeUndefined();
      for (let value = 1; value <= 5; value++) await store.put('x', value);
      await store.checkpoint();
      const plain = settle(store.get('x'));
      holding.letGo();
      const outcome = await waiting;
      expect(seen).toBe(0);
      expect(outcome.error).toBeInstanceOf(ConflictError);
      expect((await plain).value).toBe(5);
      expect(await store.get('x')).toBe(5);
    } finally {
      holding.letGo();
      await store.close();
    }
  });
});
