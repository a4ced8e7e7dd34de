/**
 * A transaction's buffered writes as bare PreparedOperations (issue 12: no
 * PreparedCommit and one-element arrays per tx.put, one array built at commit): the
 * write set keeps one operation per key in the order of each key's last write, its
 * byte count follows rewrites, and the commit writes exactly those operations as one
 * version, for transaction() and transactionSync() alike. A commit called on a
 * finished transaction rejects (never throws), as the async function it replaced did.
 */
import { describe, expect, it } from 'vitest';
import { operationSizeBytes, prepareDeleteOperation, preparePutOperation } from '../src/commit/prepare.js';
import { TransactionClosedError, TransactionLimitError } from '../src/errors.js';
import { WriteSet } from '../src/transaction/write-set.js';
import { commitTransaction, type TransactionHandle } from '../src/transaction/transaction.js';
import { memoryStore } from './transaction-support.js';

const VALUE_BYTES_MAX = 1 << 20;

describe('transaction write set', () => {
  it('keeps the last write of each key, in last-write order, with the bytes of those writes', () => {
    const writeSet = new WriteSet();
    const first = preparePutOperation('a', 'x'.repeat(50), VALUE_BYTES_MAX);
    writeSet.add(first, 10_000);
    writeSet.add(preparePutOperation('b', 2, VALUE_BYTES_MAX), 10_000);
    const rewrite = prepareDeleteOperation('a');
    writeSet.add(rewrite, 10_000);
    const operations = writeSet.operations();
    expect(operations.map((operation) => operation.key)).toEqual(['b', 'a']);
    expect(operations[1]).toBe(rewrite);
    expect(writeSet.bytes).toBe(operations.reduce((sum, operation) => sum + operationSizeBytes(operation), 0));
    expect(writeSet.bytes).toBeLessThan(operationSizeBytes(first));
    // A rewrite that would pass the limit buffers nothing.
    const limit = writeSet.bytes + 10;
    expect(() => writeSet.add(preparePutOperation('b', 'y'.repeat(40), VALUE_BYTES_MAX), limit)).toThrow(TransactionLimitError);
    expect(writeSet.operations()).toEqual(operations);
  });

  it('commits the last write of each key as one version, from transaction() and transactionSync()', async () => {
    const store = await memoryStore();
    await store.put('gone', 0);
    const before = store.version;
    const result = await store.transaction(async (tx) => {
      tx.put('a', 1);
      tx.put('b', 'two');
      tx.put('a', { three: 3 });
      tx.delete('gone');
      expect(await tx.get('a')).toEqual({ three: 3 });
      return 'done';
    });
    expect(result).toBe('done');
    expect(store.version).toBe(before + 1);
    expect(await store.get('a')).toEqual({ three: 3 });
    expect(await store.get('b')).toBe('two');
    expect(await store.get('gone')).toBeUndefined();
    expect((await store.history('a')).map((entry) => entry.version)).toEqual([before + 1]);
    await store.transactionSync((tx) => {
      tx.put('a', 4);
      tx.delete('b');
      tx.put('b', 5);
      expect(tx.get('b')).toBe(5);
    });
    expect(store.version).toBe(before + 2);
    expect(await store.get('a')).toBe(4);
    expect(await store.get('b')).toBe(5);
    await store.close();
  });

  it('a commit of a finished transaction rejects, never throws; a read-only one resolves without a commit', async () => {
    const store = await memoryStore();
    let kept: TransactionHandle | undefined;
    const before = store.version;
    expect(await store.transaction(async (tx) => {
      kept = tx;
      return (await tx.get('nothing')) ?? 'none';
    })).toBe('none');
    expect(store.version).toBe(before);
    const commit = (kept as unknown as { [commitTransaction](): Promise<unknown> })[commitTransaction];
    let outcome: Promise<unknown> | undefined;
    expect(() => { outcome = commit.call(kept); }).not.toThrow();
    await expect(outcome).rejects.toBeInstanceOf(TransactionClosedError);
    await store.close();
  });
});
