/**
 * transactionSync() refuses a body that returns a promise or thenable (an async body):
 * InvalidOptionError ('body'), nothing written, the body run once. Also when its
 * synchronous part read a key that is only on disk: before, that run counted as a read
 * miss, so the body ran again (twice before the refusal), and the promise of the first
 * run, rejected by the store's internal read-miss signal, was never handled: Node's
 * default unhandled-rejection mode then ended the process (exit 1, "SerialReadMiss: read
 * of a key not in memory"). A result whose `then` throws when read is refused with that
 * error; the missed read's pin is released either way.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store } from '../src/store/store.js';
import type { SerialTransactionHandle } from '../src/transaction/serial-transaction.js';
import { settleUntil } from './transaction-support.js';

/** A store whose key `k` is in a run only (checkpointed at close, reopened): a body's first read of it misses memory. */
async function storeWithKeyOnDisk(seed: number): Promise<Store> {
  const fileSystem = new FaultFileSystem(seed);
  const first = await openStore('/db', { fileSystem });
  await first.put('k', 1);
  await first.close();
  return openStore('/db', { fileSystem });
}

const unhandled: unknown[] = [];
const collect = (reason: unknown): void => { unhandled.push(reason); };

describe('transactionSync() given a body that returns a promise, after a read from disk', () => {
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', collect);
  });
  afterEach(() => {
    process.off('unhandledRejection', collect);
  });

  const bodies: Record<string, (tx: SerialTransactionHandle) => unknown> = {
    'an async body': async (tx) => { tx.put('j', tx.get('k')); },
    'an async body reading after an await': async (tx) => { tx.put('j', 0); await null; tx.put('j', tx.get('k')); },
    'a body that catches the read error and returns a promise': (tx) => {
      let value: unknown;
      try { value = tx.get('k'); } catch { value = 0; }
      return Promise.reject(new Error(`later ${String(value)}`));
    },
  };
  for (const [name, body] of Object.entries(bodies)) {
    it(`${name}: refused once with InvalidOptionError, no unhandled rejection, nothing held`, async () => {
      const store = await storeWithKeyOnDisk(3);
      let runs = 0;
      const error = await store.transactionSync((tx) => { runs++; return body(tx); }).then(() => undefined, (thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe('body');
      expect(runs).toBe(1);
      await settleUntil(() => store.stats().pinnedReads === 0, 200);
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(await store.get('j')).toBeUndefined();
      // The store goes on: a synchronous body reads the key (from disk) and commits.
      expect(await store.transactionSync((tx) => { tx.put('j', tx.get('k')); return tx.get('k'); })).toBe(1);
      expect(await store.get('j')).toBe(1);
      await store.close();
    });
  }

  it('a result whose then throws when read: refused with that error, the missed read let go', async () => {
    const store = await storeWithKeyOnDisk(4);
    const trap = new Error('then read');
    const result = new Proxy({}, { get: () => { throw trap; } });
    const error = await store.transactionSync((tx) => { tx.put('j', tx.get('k')); return result; }).then(() => undefined, (thrown: unknown) => thrown);
    expect(error).toBe(trap);
    await settleUntil(() => store.stats().pinnedReads === 0, 200);
    expect(unhandled).toEqual([]);
    expect(await store.get('j')).toBeUndefined();
    await store.close();
  });
});
