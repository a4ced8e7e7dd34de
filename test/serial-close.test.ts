/**
 * transactionSync and close(): a serial transaction still waiting for admission (behind
 * the write stall) when close() begins commits nothing and gets StoreClosedError, the
 * rule optimistic transactions follow (a body still running at close commits nothing).
 */
import { describe, expect, it } from 'vitest';
import { openStore, StoreClosedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

describe('transactionSync during close()', () => {
  it('waiting for admission when close() begins: refused, nothing written', async () => {
    const fileSystem = new FaultFileSystem(21);
    const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 1024 * 1024, checkpointOnClose: false });
    const operations = Array.from({ length: 3000 }, (_unused, index) => ({
      type: 'put' as const, key: `big/${String(index).padStart(5, '0')}`, value: `${index} `.padEnd(120, 'v'),
    }));
    const big = store.batch(operations); // larger than the sealed memtables' share: later writers stall
    let bodyRan = false;
    const serial = store.transactionSync((tx) => {
      bodyRan = true;
      tx.put('after', 1);
    }).then(() => undefined, (error: unknown) => error);
    await Promise.resolve();
    const closing = store.close();
    const [bigResult, serialError] = await Promise.all([big, serial, closing]);
    expect(bigResult.version).toBeGreaterThan(0); // admitted before close: drained, durable
    expect(serialError).toBeInstanceOf(StoreClosedError);
    expect(bodyRan).toBe(false);
    const reopened = await openStore('/db', { fileSystem });
    expect(await reopened.get('after')).toBeUndefined();
    expect(await reopened.get('big/02999')).toBe(operations[2999]!.value);
    await reopened.close();
  });
});
