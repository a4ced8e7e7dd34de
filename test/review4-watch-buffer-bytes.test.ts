/**
 * A watcher slower than its writers: the live buffer is bounded by bytes too, not
 * only by WATCH_BUFFER_CHANGES_MAX changes. Its values sit outside the memory budget,
 * so with the count alone a subscribed watcher that stopped pulling held up to 10,000
 * values: with 1 MiB values, 10 GiB (400 puts of 1 MiB under a 16 MiB budget held
 * 407 MiB of ArrayBuffers, measured). Past WATCH_BUFFER_BYTES_MAX beyond its oldest
 * buffered commit it now ends with WatchOverflowError, and resuming from the version
 * it names delivers every change once. A consumer one (large) commit behind does not
 * overflow by that commit's size.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, openStore, WatchOverflowError } from '../src/index.js';
import { WATCH_BUFFER_BYTES_MAX, WATCH_BUFFER_CHANGES_MAX } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const VALUE_BYTES = 256 * 1024;

function valueFor(version: number, index: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  value[0] = version & 0xff;
  value[1] = index;
  value[VALUE_BYTES - 1] = (version >> 8) & 0xff;
  return value;
}

describe('watch buffer bounded by bytes', () => {
  it('a watcher that stopped pulling overflows past WATCH_BUFFER_BYTES_MAX of values, and resuming delivers every change once', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 16 * 1024 * 1024 });
    const feed = store.watch();
    const first = feed.next();
    await store.put('first', 1);
    expect((await first).value).toEqual({ version: 1, key: 'first', value: 1, deleted: false });
    // 40 commits of 10 values of 256 KiB: 100 MiB, 400 changes (far under the count bound).
    const commits = 40;
    const perCommit = 10;
    expect(commits * perCommit).toBeLessThan(WATCH_BUFFER_CHANGES_MAX);
    expect(commits * perCommit * VALUE_BYTES).toBeGreaterThan(WATCH_BUFFER_BYTES_MAX + 2 * perCommit * VALUE_BYTES);
    for (let commit = 0; commit < commits; commit++) {
      const version = store.version + 1;
      await store.batch(Array.from({ length: perCommit }, (_, index) => ({ type: 'put' as const, key: `k${String(index).padStart(2, '0')}`, value: valueFor(version, index) })));
    }
    const error = await feed.next().then(() => undefined, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(WatchOverflowError);
    expect((error as WatchOverflowError).lastDeliveredVersion).toBe(1);

    const resumed: Change[] = [];
    for await (const change of store.watch({ sinceVersion: 1, untilVersion: store.version, catchUpBatchChanges: 16 })) resumed.push(change);
    expect(resumed.map((change) => `${change.version}/${String(change.key)}`)).toEqual(
      Array.from({ length: commits * perCommit }, (_, at) => `${2 + Math.floor(at / perCommit)}/k${String(at % perCommit).padStart(2, '0')}`),
    );
    // The tagged bytes, not a deep comparison (an element-wise toEqual of 100 MiB takes minutes).
    const tags = (value: Uint8Array): number[] => [value.length, value[0]!, value[1]!, value[VALUE_BYTES - 1]!];
    for (const [at, change] of resumed.entries()) expect(tags(change.value as Uint8Array)).toEqual(tags(valueFor(change.version, at % perCommit)));
    await store.close();
  }, 60_000);

  it('a consumer one commit behind does not overflow by the size of that commit', async () => {
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 256 * 1024 * 1024, memoryBudgetBytes: 64 * 1024 * 1024 });
    const feed = store.watch();
    const first = feed.next();
    await store.put('first', 1);
    await first;
    // One commit whose values are over the bytes bound, then a small one: a consumer
    // that has not started on the large commit is one commit (and a little) behind.
    const large = Array.from({ length: 5 }, (_, index) => ({ type: 'put' as const, key: `big${index}`, value: new Uint8Array(15 * 1024 * 1024).fill(index + 1) }));
    expect(large.length * 15 * 1024 * 1024).toBeGreaterThan(WATCH_BUFFER_BYTES_MAX);
    await store.batch(large);
    await store.put('small', 2);
    const delivered: Change[] = [];
    for (let index = 0; index < 6; index++) {
      const next = await feed.next();
      expect(next.done).toBe(false);
      delivered.push(next.value as Change);
    }
    expect(delivered.map((change) => `${change.version}/${String(change.key)}`)).toEqual(['2/big0', '2/big1', '2/big2', '2/big3', '2/big4', '3/small']);
    for (const [index, change] of delivered.slice(0, 5).entries()) {
      const value = change.value as Uint8Array;
      expect([value.length, value[0], value[value.length - 1]]).toEqual([15 * 1024 * 1024, index + 1, index + 1]);
    }
    await feed.return();
    await store.close();
  }, 60_000);
});
