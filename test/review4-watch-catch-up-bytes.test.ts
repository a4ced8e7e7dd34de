/**
 * A watch catch-up over large values holds a bounded number of bytes, not only a
 * bounded number of changes: a batch stops at WATCH_CATCH_UP_BATCH_BYTES_MAX of values
 * (at least one change). With the count alone, catching up over 300 values of 1 MiB
 * under a 16 MiB budget held 311 MiB at its first change (measured), and the default
 * batch (4,096, held twice over) allowed 8 GiB. A batch cut by bytes is not the last:
 * the catch-up goes on and delivers every change once, in order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Change, openStore } from '../src/index.js';
import { WATCH_CATCH_UP_BATCH_BYTES_MAX } from '../src/limits.js';
import { catchUpMemory } from '../src/watch/catch-up.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);
beforeEach(() => {
  catchUpMemory.changesHeldMax = 0;
  catchUpMemory.bytesHeldMax = 0;
});

const VALUE_BYTES = 256 * 1024;

describe('watch catch-up bounded by bytes', () => {
  it('a catch-up over 75 MiB of history holds about two batches of bytes and delivers every change once', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir, { memoryBudgetBytes: 16 * 1024 * 1024 });
    const puts = 300;
    for (let index = 0; index < puts; index++) {
      const value = new Uint8Array(VALUE_BYTES);
      value[0] = index & 0xff;
      value[1] = index >> 8;
      await store.put(`k${index % 7}`, value);
    }
    expect(puts * VALUE_BYTES).toBeGreaterThan(2 * WATCH_CATCH_UP_BATCH_BYTES_MAX);
    const delivered: Change[] = [];
    for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version })) delivered.push(change);
    expect(delivered.map((change) => `${change.version}/${String(change.key)}`)).toEqual(Array.from({ length: puts }, (_, index) => `${index + 1}/k${index % 7}`));
    for (const [index, change] of delivered.entries()) {
      const value = change.value as Uint8Array;
      expect([value.length, value[0], value[1]]).toEqual([VALUE_BYTES, index & 0xff, index >> 8]);
    }
    // Within two batches' bytes (and one value past them, the change whose offer started a cut).
    expect(catchUpMemory.bytesHeldMax).toBeLessThanOrEqual(2 * WATCH_CATCH_UP_BATCH_BYTES_MAX + 2 * VALUE_BYTES);
    expect(catchUpMemory.changesHeldMax).toBeLessThan(puts);
    await store.close();
  }, 60_000);

  it('a batch cut by bytes in the middle of a commit (45 MiB in three values): the next batch goes on from there', async () => {
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 128 * 1024 * 1024 });
    await store.put('a', 1);
    await store.batch([
      { type: 'put', key: 'big1', value: new Uint8Array(15 * 1024 * 1024).fill(1) },
      { type: 'put', key: 'big2', value: new Uint8Array(15 * 1024 * 1024).fill(2) },
      { type: 'put', key: 'big3', value: new Uint8Array(15 * 1024 * 1024).fill(3) },
    ]);
    await store.put('b', 2);
    const delivered: string[] = [];
    for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version })) delivered.push(`${change.version}/${String(change.key)}`);
    expect(delivered).toEqual(['1/a', '2/big1', '2/big2', '2/big3', '3/b']);
    await store.close();
  }, 60_000);
});
