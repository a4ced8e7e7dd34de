/**
 * The write stall counts commits admitted but not yet applied (issue 7: a 100k-key
 * batch used to bypass the stall, which counted sealed memtables only).
 *
 * - A single batch larger than the sealed memtables' share is admitted (it cannot
 *   be split) and succeeds whole; writers that come while it waits for its
 *   fdatasync are stalled until it is applied, counted in stats.
 * - Several such batches at once are admitted one at a time: each is written as a
 *   group of its own, so at most one oversized batch is unapplied at any moment.
 * - Refused commits (a failed store) leave the count: nothing waits forever.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { IMMUTABLE_BUDGET_SHARE } from '../src/engine/memory-budget.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';

const BUDGET_BYTES = 1024 * 1024;
/** Keys of one large batch: its framed size is well above the sealed memtables' share of the budget. */
const LARGE_BATCH_KEYS = 3000;

function open(fileSystem: FaultFileSystem): Promise<Store> {
  return openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
}

function largeBatch(tag: string): Array<{ type: 'put'; key: string; value: string }> {
  const operations = [];
  for (let index = 0; index < LARGE_BATCH_KEYS; index++) {
    operations.push({ type: 'put' as const, key: `${tag}/${String(index).padStart(5, '0')}`, value: `${tag} ${index} `.padEnd(120, 'v') });
  }
  return operations;
}

describe('the write stall counts admitted, unapplied commits', () => {
  it('admits one batch larger than the share whole, and stalls the writer behind it until it is applied', async () => {
    const store = await open(new FaultFileSystem());
    const operations = largeBatch('big');
    expect(JSON.stringify(operations).length).toBeGreaterThan(BUDGET_BYTES * IMMUTABLE_BUDGET_SHARE);
    const order: string[] = [];
    const big = store.batch(operations).then((result) => {
      order.push('big');
      return result;
    });
    const small = store.put('after', 1).then((result) => {
      order.push('small');
      return result;
    });
    const [bigResult, smallResult] = await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(smallResult.version).toBe(bigResult.version + 1);
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(1);
    // The small write was not in the big batch's group: it waited for the apply.
    expect(store.stats().groupSizeMax).toBe(1);
    expect(await store.get('big/02999')).toBe(operations[2999]!.value);
    expect(await store.get('after')).toBe(1);
    await store.close();
  });

  it('admits concurrent oversized batches one at a time, each in a group of its own', async () => {
    const store = await open(new FaultFileSystem());
    const tags = ['a', 'b', 'c', 'd', 'e'];
    const results = await Promise.all(tags.map((tag) => store.batch(largeBatch(tag))));
    expect(results.map((result) => result.version).sort((left, right) => left - right)).toEqual([1, 2, 3, 4, 5]);
    expect(store.stats().groupSizeMax).toBe(1);
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(tags.length - 1);
    for (const tag of tags) expect(await store.get(`${tag}/01234`)).toBe(`${tag} 1234 `.padEnd(120, 'v'));
    await store.close();
  });

  it('a refused oversized batch leaves the count: the writer stalled behind it goes on', async () => {
    const fileSystem = new FaultFileSystem();
    const store = await open(fileSystem);
    fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /wal-\d+\.log$/ });
    const big = store.batch(largeBatch('refused'));
    const small = store.put('after', 2);
    await expect(big).rejects.toMatchObject({ code: 'LADYBUG_DISK_FULL' });
    await expect(small).resolves.toMatchObject({ version: expect.any(Number) as number });
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(1);
    expect(await store.get('refused/00000')).toBeUndefined();
    expect(await store.get('after')).toBe(2);
    await store.close();
  });

  it('small concurrent writers are not stalled by each other', async () => {
    const store = await open(new FaultFileSystem());
    await Promise.all(Array.from({ length: 64 }, (_, index) => store.put(`k${index}`, index)));
    expect(store.stats().storage.writeStalls).toBe(0);
    expect(store.stats().groupSizeMax).toBeGreaterThan(1);
    await store.close();
  });
});
