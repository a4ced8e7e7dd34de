/**
 * Transactions as application code misuses them. Each call is raced against a hang
 * guard, so a deadlock fails its test (naming the call) rather than the suite:
 * - a transaction() body awaiting its own store's writes, checkpoint, compact, scrub,
 *   backup, a lease acquire, a snapshot, a nested transaction or transactionSync: each
 *   works, the outer transaction commits, and the store commits and closes after;
 * - a body awaiting close(): transaction() rejects with StoreClosedError at once,
 *   close() ends, nothing of the body is written;
 * - a body that never settles: its lifetime ends it (TransactionLimitError), its pins
 *   go, its tx throws TransactionLimitError, the store commits and closes;
 * - a body throwing a non-Error (a string, undefined, null, a Proxy that throws on
 *   every access): the call rejects with exactly that value, nothing written;
 * - a tx kept past its body (returned in the result, kept by a body that threw):
 *   TransactionClosedError for every method, nothing written;
 * - a signal aborted before the call (the body never runs), during the body (rejects
 *   with the reason, nothing written), during the commit's fdatasync (the commit is
 *   not interrupted: it resolves, the write is there) and after the commit;
 * - retries: a body that always conflicts runs exactly retries + 1 times.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, openStore, StoreClosedError, TransactionClosedError, TransactionLimitError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store } from '../src/store/store.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { settle } from './transaction-support.js';

/** Settles as `promise` does, or rejects naming `label` if it has not settled after `ms` (a hang). */
function within<T>(promise: Promise<T>, label: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<T>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not settle`)), ms);
  });
  return Promise.race([promise.finally(() => clearTimeout(timer)), hang]);
}

/** What a promise rejected with, boxed (a thrown Proxy must not be resolved as a thenable); a resolution fails the test. */
function rejection(promise: Promise<unknown>, label: string): Promise<{ error: unknown }> {
  return within(promise.then((value) => { throw new Error(`${label} resolved with ${String(value)}`); }, (error: unknown) => ({ error })), label);
}

function memoryStore(seed: number, options: Record<string, unknown> = {}): Promise<Store> {
  return openStore('/db', { fileSystem: new FaultFileSystem(seed), segmentSizeBytes: 256 * 1024, ...options });
}

const AWAITED_CALLS: Record<string, (store: Store) => Promise<unknown>> = {
  put: (store) => store.put('call/put', 1),
  batch: (store) => store.batch([{ type: 'put', key: 'call/batch', value: 1 }]),
  checkpoint: (store) => store.checkpoint(),
  compact: (store) => store.compact(),
  scrub: (store) => store.scrub(),
  backup: (store) => store.backup('/backup'),
  'lease acquire': (store) => store.leases.acquire('job', { owner: 'worker', ttlMs: 60_000 }),
  snapshot: async (store) => { const snapshot = await store.snapshot(); await snapshot.get('k'); snapshot.release(); },
  'nested transaction': (store) => store.transaction(async (tx) => { tx.put('call/nested', (await tx.get('k')) as number); }),
  'nested transactionSync': (store) => store.transactionSync((tx) => { tx.put('call/nestedSync', tx.get('k') as number); }),
};

describe('a transaction() body that awaits a call of its own store', () => {
  for (const [name, call] of Object.entries(AWAITED_CALLS)) {
    it(`${name}: works, the transaction commits, the store commits and closes after`, async () => {
      const store = await memoryStore(11);
      await store.put('k', 1);
      await store.checkpoint(); // a run for compact, scrub and backup to work on
      await store.put('k', 2);
      const result = await within(store.transaction(async (tx) => {
        const k = (await tx.get('k')) as number;
        await within(call(store), name);
        tx.put('k', k + 1);
        return 'outer';
      }), `the transaction around ${name}`);
      expect(result).toBe('outer');
      expect(await store.get('k')).toBe(3);
      await within(store.put('after', 1), 'a put after');
      await within(store.close(), 'close');
    });
  }

  it('close(): the transaction rejects with StoreClosedError at once, close ends, nothing of the body is written', async () => {
    const fileSystem = new FaultFileSystem(12);
    const store = await openStore('/db', { fileSystem });
    let closing: Promise<void> | undefined;
    const error = (await rejection(store.transaction(async (tx) => {
      tx.put('body', 1);
      closing = store.close();
      await closing;
      tx.put('body', 2);
    }), 'the transaction')).error;
    expect(error).toBeInstanceOf(StoreClosedError);
    await within(closing!, 'close');
    const reopened = await openStore('/db', { fileSystem });
    expect(await reopened.get('body')).toBeUndefined();
    await reopened.close();
  });
});

describe('a body that never settles, or throws what is not an Error', () => {
  it('never settles: the lifetime ends it, its pins go, the store commits and closes', async () => {
    const store = await memoryStore(13, { transactionLifetimeMs: 50 });
    await store.put('k', 1);
    let kept: TransactionHandle | undefined;
    const error = (await rejection(store.transaction(async (tx) => {
      kept = tx;
      tx.put('k', 2);
      await new Promise<never>(() => undefined);
    }), 'the never-settling transaction')).error;
    expect(error).toBeInstanceOf(TransactionLimitError);
    expect((error as TransactionLimitError).limit).toBe('lifetime');
    expect(store.stats().pinnedReads).toBe(0);
    expect(() => kept!.put('k', 3)).toThrow(TransactionLimitError); // it says why it ended
    expect(await store.get('k')).toBe(1);
    await within(store.put('k', 4), 'a put after');
    await within(store.close(), 'close');
  });

  const trap = new Error('trap');
  const thrownValues: Array<[string, () => unknown]> = [
    ['a string', () => 'refused'],
    ['undefined', () => undefined],
    ['null', () => null],
    ['a Proxy that throws on every access', () => new Proxy({}, { get: () => { throw trap; }, getPrototypeOf: () => { throw trap; } })],
  ];
  for (const [name, make] of thrownValues) {
    it(`throws ${name}: the call rejects with it, nothing written`, async () => {
      const store = await memoryStore(14);
      const thrown = make();
      const fromAsync = (await rejection(store.transaction(async (tx) => { tx.put('k', 1); throw thrown; }), 'transaction, async body')).error;
      const fromSync = (await rejection(store.transaction((tx) => { tx.put('k', 1); throw thrown; }), 'transaction, synchronous body')).error;
      const fromSerial = (await rejection(store.transactionSync((tx) => { tx.put('k', 1); throw thrown; }), 'transactionSync')).error;
      if (name.startsWith('a Proxy')) {
        // instanceof on the Proxy throws its trap's error: the call rejects with one or the other, never commits.
        for (const error of [fromAsync, fromSync, fromSerial]) expect(error === thrown || error === trap).toBe(true);
      } else {
        expect([fromAsync, fromSync, fromSerial]).toEqual([thrown, thrown, thrown]);
      }
      expect(await store.get('k')).toBeUndefined();
      expect(store.stats().pinnedReads).toBe(0);
      await within(store.put('k', 2), 'a put after');
      await within(store.close(), 'close');
    });
  }
});

describe('a tx used after its body ended', () => {
  it('returned in the result, or kept by a body that threw: TransactionClosedError, nothing written', async () => {
    const store = await memoryStore(15);
    const { tx } = await store.transaction(async (handle) => { handle.put('a', 1); return { tx: handle }; });
    let thrownFrom: TransactionHandle | undefined;
    await rejection(store.transaction(async (handle) => { thrownFrom = handle; throw new Error('no'); }), 'the throwing transaction');
    for (const late of [tx, thrownFrom!]) {
      expect(() => late.put('b', 1)).toThrow(TransactionClosedError);
      expect(() => late.delete('a')).toThrow(TransactionClosedError);
      expect(() => late.scan()).toThrow(TransactionClosedError);
      await expect(late.get('a')).rejects.toBeInstanceOf(TransactionClosedError);
      await expect(late.requireLease('job', 1)).rejects.toBeInstanceOf(TransactionClosedError);
    }
    let serial: { put(key: string, value: unknown): void; get(key: string): unknown } | undefined;
    await store.transactionSync((handle) => { serial = handle; });
    expect(() => serial!.put('c', 1)).toThrow(TransactionClosedError);
    expect(() => serial!.get('a')).toThrow(TransactionClosedError);
    expect(await store.get('a')).toBe(1);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('c')).toBeUndefined();
    await within(store.close(), 'close');
  });
});

describe('an AbortSignal, by when it aborts', () => {
  it('before the call, during the body, during the commit fdatasync, after the commit', async () => {
    const gated = new GatedFileSystem(new FaultFileSystem(16));
    const store = await openStore('/db', { fileSystem: gated, segmentSizeBytes: 256 * 1024 });
    const reason = new Error('stop');

    let ran = false;
    expect((await rejection(store.transaction(async (tx) => { ran = true; tx.put('before', 1); }, { signal: AbortSignal.abort(reason) }), 'aborted before')).error).toBe(reason);
    expect(ran).toBe(false);

    const during = new AbortController();
    expect((await rejection(store.transaction(async (tx) => {
      tx.put('during', 1);
      during.abort(reason);
      await settle();
      tx.put('during', 2); // throws TransactionClosedError inside the body; the call rejected already
    }, { signal: during.signal }), 'aborted during the body')).error).toBe(reason);

    gated.armed = true;
    const inSync = new AbortController();
    const committing = store.transaction(async (tx) => { tx.put('fdatasync', 1); return 'committed'; }, { signal: inSync.signal });
    const held = await within(gated.nextHeld(), 'the commit fdatasync');
    inSync.abort(reason);
    await settle();
    held.release();
    gated.armed = false;
    expect(await within(committing, 'aborted during the fdatasync')).toBe('committed');

    const after = new AbortController();
    expect(await within(store.transaction(async (tx) => { tx.put('after', 1); return 'committed'; }, { signal: after.signal }), 'committed')).toBe('committed');
    after.abort(reason);
    await settle();

    expect(await store.get('before')).toBeUndefined();
    expect(await store.get('during')).toBeUndefined();
    expect(await store.get('fdatasync')).toBe(1);
    expect(await store.get('after')).toBe(1);
    expect(store.stats().pinnedReads).toBe(0);
    await within(store.close(), 'close');
  });
});

describe('retries', () => {
  it('a body that always conflicts runs exactly retries + 1 times; the bound is 1000', async () => {
    const store = await memoryStore(17);
    await store.put('k', 0);
    for (const retries of [0, 1, 4]) {
      let runs = 0;
      const error = (await rejection(store.transaction(async (tx) => {
        runs++;
        const k = (await tx.get('k')) as number;
        await store.put('k', k + 100); // a commit after its read version, of the key it read
        tx.put('k', k + 1);
      }, { retries }), `retries ${retries}`)).error;
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).attempts).toBe(retries + 1);
      expect(runs).toBe(retries + 1);
    }
    expect(await store.transaction(async () => 'ran', { retries: 1000 })).toBe('ran');
    await expect(store.transaction(async () => 'ran', { retries: 1001 })).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION', option: 'retries' });
    await within(store.close(), 'close');
  });
});
