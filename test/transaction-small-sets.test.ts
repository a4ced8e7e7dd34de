/**
 * The small forms of a transaction's write and read sets (issue 12): up to
 * WRITE_SET_SMALL_KEYS_MAX written keys live in one array (no Map per transaction),
 * up to READ_SET_SMALL_KEYS_MAX read keys in one array (no Set). Checked on both
 * sides of each switch: the write set against a plain Map model (last write wins and
 * moves to the end, bytes follow), the handed-out commit array never changing after,
 * and serializable conflicts found on every read key, however many were read and
 * however often each was read; under snapshot isolation, on every written key (an
 * array for a few, a Set past READ_SET_SMALL_KEYS_MAX), and not on a key only read. store.transaction() and transactionSync() called on a
 * closed store rejects (never throws), as the async functions they replaced did.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { operationSizeBytes, type PreparedOperation, prepareDeleteOperation, preparePutOperation } from '../src/commit/prepare.js';
import { ConflictError, StoreClosedError } from '../src/errors.js';
import { READ_SET_SMALL_KEYS_MAX } from '../src/transaction/transaction.js';
import { WRITE_SET_SMALL_KEYS_MAX, WriteSet } from '../src/transaction/write-set.js';
import { memoryStore } from './transaction-support.js';

const VALUE_BYTES_MAX = 1 << 20;
const COMMIT_BYTES_MAX = 1 << 20;

describe('write set, small and large forms', () => {
  it('matches a Map model (last write wins, moves to the end) across the switch to the large form', () => {
    const keyCount = WRITE_SET_SMALL_KEYS_MAX + 4;
    const write = fc.record({ key: fc.nat(keyCount - 1), remove: fc.boolean(), size: fc.nat(40) });
    fc.assert(fc.property(fc.array(write, { maxLength: 60 }), (writes) => {
      const writeSet = new WriteSet();
      const model = new Map<string, PreparedOperation>();
      for (const { key, remove, size } of writes) {
        const name = `k${key}`;
        const operation = remove ? prepareDeleteOperation(name) : preparePutOperation(name, 'v'.repeat(size), VALUE_BYTES_MAX);
        writeSet.add(operation, COMMIT_BYTES_MAX);
        model.delete(name);
        model.set(name, operation);
        expect(writeSet.size).toBe(model.size);
        expect(writeSet.get(name)).toBe(operation);
      }
      expect(writeSet.get('absent')).toBeUndefined();
      const expected = [...model.values()];
      expect(writeSet.values()).toEqual(expected);
      expect(writeSet.bytes).toBe(expected.reduce((sum, operation) => sum + operationSizeBytes(operation), 0));
      const operations = writeSet.operations();
      expect(operations).toEqual(expected);
      for (const [index, operation] of operations.entries()) expect(operation).toBe(expected[index]);
    }));
  });

  it('never changes the array operations() handed out, small or large, whatever is added after', () => {
    for (const count of [1, 2, 3, 4, 5, WRITE_SET_SMALL_KEYS_MAX, WRITE_SET_SMALL_KEYS_MAX + 1]) {
      const writeSet = new WriteSet();
      for (let index = 0; index < count; index++) writeSet.add(preparePutOperation(`k${index}`, index, VALUE_BYTES_MAX), COMMIT_BYTES_MAX);
      const handedOut = writeSet.operations();
      const copy = [...handedOut];
      // A new key first (an append, no rewrite's copy before it), then a rewrite.
      writeSet.add(preparePutOperation('new', 1, VALUE_BYTES_MAX), COMMIT_BYTES_MAX);
      writeSet.add(preparePutOperation('k0', 'rewritten', VALUE_BYTES_MAX), COMMIT_BYTES_MAX);
      expect(handedOut).toEqual(copy);
      expect(writeSet.operations().map((operation) => operation.key)).toEqual([...copy.slice(1).map((operation) => operation.key), 'new', 'k0']);
    }
  });
});

describe('read set, small and large forms', () => {
  for (const readCount of [1, 2, READ_SET_SMALL_KEYS_MAX, READ_SET_SMALL_KEYS_MAX + 1, 3 * READ_SET_SMALL_KEYS_MAX]) {
    it(`a serializable transaction reading ${readCount} keys (each twice) conflicts on a write to any one of them`, async () => {
      const store = await memoryStore();
      const keys = Array.from({ length: readCount }, (_unused, index) => `r${String(index).padStart(3, '0')}`);
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: 0 })));
      for (const target of new Set([0, readCount - 1, readCount >> 1])) {
        let attempts = 0;
        const error = await store.transaction(async (tx) => {
          attempts++;
          for (const key of keys) await tx.get(key);
          for (const key of keys) await tx.get(key);
          // Another commit writes one read key after the reads: the commit must be refused.
          await store.put(keys[target]!, attempts);
          tx.put('out', attempts);
        }, { retries: 0 }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(ConflictError);
        expect((error as ConflictError).keys).toEqual([keys[target]]);
      }
      // Writes to keys it did not read never refuse it.
      const result = await store.transaction(async (tx) => {
        for (const key of keys) await tx.get(key);
        await store.put('unread', 1);
        tx.put('out', 'ok');
        return 'committed';
      }, { retries: 0 });
      expect(result).toBe('committed');
      expect(await store.get('out')).toBe('ok');
      await store.close();
    });
  }
});

describe('snapshot isolation: the written keys checked, small and large forms', () => {
  for (const writeCount of [1, 2, READ_SET_SMALL_KEYS_MAX, READ_SET_SMALL_KEYS_MAX + 1, 3 * READ_SET_SMALL_KEYS_MAX]) {
    it(`a snapshot transaction writing ${writeCount} keys (each twice) conflicts on a write to any one of them, not to a key it only read`, async () => {
      const store = await memoryStore();
      const keys = Array.from({ length: writeCount }, (_unused, index) => `w${String(index).padStart(3, '0')}`);
      for (const target of new Set([0, writeCount - 1, writeCount >> 1])) {
        const error = await store.transaction(async (tx) => {
          for (const key of keys) tx.put(key, 1);
          for (const key of keys) tx.put(key, 2);
          await store.put(keys[target]!, 'other');
        }, { isolation: 'snapshot', retries: 0 }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(ConflictError);
        expect((error as ConflictError).keys).toEqual([keys[target]]);
      }
      const result = await store.transaction(async (tx) => {
        await tx.get('read-only');
        for (const key of keys) tx.put(key, 3);
        await store.put('read-only', 1);
        return 'committed';
      }, { isolation: 'snapshot', retries: 0 });
      expect(result).toBe('committed');
      expect(await store.get(keys[0]!)).toBe(3);
      await store.close();
    });
  }
});

describe('store.transaction() and transactionSync() entries', () => {
  it('transactionSync() commits, and rejects, never throws, for a bad body and on a closed store', async () => {
    const store = await memoryStore();
    expect(await store.transactionSync((tx) => { tx.put('k', 1); return 'done'; })).toBe('done');
    expect(await store.get('k')).toBe(1);
    const badBody = store.transactionSync('not a function' as unknown as () => void);
    expect(badBody).toBeInstanceOf(Promise);
    await expect(badBody).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
    await store.close();
    let invoked = false;
    const closed = store.transactionSync(() => { invoked = true; });
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toBeInstanceOf(StoreClosedError);
    expect(invoked).toBe(false);
  });


  it('rejects, never throws, on a closed store and for a bad option', async () => {
    const store = await memoryStore();
    let invoked = false;
    const badOption = store.transaction(async () => { invoked = true; }, { retries: -1 });
    expect(badOption).toBeInstanceOf(Promise);
    await expect(badOption).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
    await store.close();
    const closed = store.transaction(async () => { invoked = true; });
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toBeInstanceOf(StoreClosedError);
    expect(invoked).toBe(false);
  });
});
