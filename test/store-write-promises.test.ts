/**
 * put, delete and batch (StoreWrites, src/store/store-writes.ts) return the commit's promise without an
 * async function around it (issue 12: one promise and two microtask hops fewer per
 * write). The contract that must survive: a refused call rejects with its typed
 * error and never throws synchronously; an accepted one resolves with its version,
 * in submission order; an empty batch resolves with the current version.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchTooLargeError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  openStore,
  StoreClosedError,
  type CommitResult,
} from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** The promise a call returned, or the error it threw synchronously (never expected). */
function callOf(call: () => Promise<CommitResult>): Promise<CommitResult> | { thrown: unknown } {
  try {
    return call();
  } catch (error) {
    return { thrown: error };
  }
}

describe('write calls return promises', () => {
  it('a refused put, delete or batch rejects with its typed error and never throws', async () => {
    const store = await openStore(temporaryDirectory(), { maxValueBytes: 1024 });
    const refused: Array<[() => Promise<CommitResult>, new (...args: never[]) => Error]> = [
      [() => store.put('', 1), InvalidKeyError],
      [() => store.put('k', () => 1), InvalidValueError],
      [() => store.put('\u0000ladybug/x', 1), InvalidKeyError],
      [() => store.delete(''), InvalidKeyError],
      [() => store.batch('nope' as never), InvalidOptionError],
      [() => store.batch([{ type: 'put', key: 'k', value: 'x'.repeat(900) }, { type: 'put', key: 'j', value: 'x'.repeat(2000) }]), Error],
      [() => store.batch(Array.from({ length: 100_001 }, () => ({ type: 'del' as const, key: 'k' }))), BatchTooLargeError],
    ];
    for (const [call, errorClass] of refused) {
      const result = callOf(call);
      expect(result).toBeInstanceOf(Promise);
      await expect(result as Promise<CommitResult>).rejects.toBeInstanceOf(errorClass);
    }
    await store.close();
    for (const call of [() => store.put('k', 1), () => store.delete('k'), () => store.batch([{ type: 'put', key: 'k', value: 1 }])]) {
      const result = callOf(call);
      expect(result).toBeInstanceOf(Promise);
      await expect(result as Promise<CommitResult>).rejects.toBeInstanceOf(StoreClosedError);
    }
  });

  it('accepted writes resolve with ascending versions; an empty batch with the current version', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      const results = await Promise.all([store.put('a', 1), store.delete('b'), store.batch([{ type: 'put', key: 'c', value: 'x' }]), store.put('a', 2)]);
      const versions = results.map((result) => result.version);
      expect(versions).toEqual([...versions].sort((left, right) => left - right));
      expect(new Set(versions).size).toBe(4);
      expect(await store.batch([])).toEqual({ version: versions[3] });
      expect(await store.get('a')).toBe(2);
      expect(await store.get('c')).toBe('x');
    } finally {
      await store.close();
    }
  });
});
