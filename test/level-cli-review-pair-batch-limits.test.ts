/**
 * A level batch over the store's limits for one commit is refused with BatchTooLargeError
 * (LADYBUG_BATCH_TOO_LARGE), whichever keys it holds: one touching the empty key or 0x00 runs
 * as a store transaction, which refused it with TransactionLimitError (LADYBUG_TRANSACTION_LIMIT,
 * 'operations' or 'bytes'), an error of a transaction the level user never began, and
 * counted distinct keys (its write set) where a batch counts operations. Nothing is written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { BatchTooLargeError } from '../src/errors.js';
import { BATCH_OPERATIONS_MAX } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

type Put = { type: 'put'; key: string; value: string };

async function refusal(write: Promise<void>): Promise<unknown> {
  return write.then(() => undefined, (error: unknown) => error);
}

describe('level batches over the commit limits, with and without the pair slot', () => {
  it('too many operations: BatchTooLargeError either way, nothing written', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    await db.open();
    const distinct: Put[] = Array.from({ length: BATCH_OPERATIONS_MAX + 1 }, (_, index) => ({ type: 'put', key: `k${index}`, value: 'v' }));
    const repeated: Put[] = Array.from({ length: BATCH_OPERATIONS_MAX + 1 }, () => ({ type: 'put', key: 'same', value: 'v' }));
    for (const operations of [distinct, [...distinct.slice(1), { type: 'put', key: '', value: 'e' } as Put], [...repeated.slice(1), { type: 'put', key: '\u0000', value: 'z' } as Put]]) {
      const error = await refusal(db.batch(operations));
      expect(error).toBeInstanceOf(BatchTooLargeError);
      expect((error as BatchTooLargeError).code).toBe('LADYBUG_BATCH_TOO_LARGE');
    }
    expect(await db.keys().all()).toEqual([]);
    await db.close();
  }, 30_000);

  it('too many bytes for one commit: BatchTooLargeError either way, nothing written', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory(), { store: { segmentSizeBytes: 1024 * 1024 } });
    await db.open();
    const big: Put[] = Array.from({ length: 40 }, (_, index) => ({ type: 'put', key: `k${index}`, value: 'x'.repeat(60 * 1024) }));
    for (const operations of [big, [...big, { type: 'put', key: '', value: 'e' } as Put]]) {
      const error = await refusal(db.batch(operations));
      expect(error).toBeInstanceOf(BatchTooLargeError);
    }
    expect(await db.keys().all()).toEqual([]);
    await db.close();
  }, 30_000);
});
