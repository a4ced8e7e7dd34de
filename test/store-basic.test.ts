import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('store basics', () => {
  it('puts, gets, deletes, scans and reopens', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir, { segmentSizeBytes: 64 * 1024, maxValueBytes: 16 * 1024 });
    const first = await store.put('a', { n: 1 });
    await store.put('b', 'two');
    await store.put('a', { n: 3 });
    const deleted = await store.delete('b');
    expect(first.version).toBe(1);
    expect(deleted.version).toBe(4);
    expect(await store.get('a')).toEqual({ n: 3 });
    expect(await store.get('a', { asOf: 1 })).toEqual({ n: 1 });
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('b', { asOf: 3 })).toBe('two');
    const batch = await store.batch([{ type: 'put', key: 'c', value: 1 }, { type: 'put', key: 'd', value: 2 }, { type: 'del', key: 'a' }]);
    expect(batch.version).toBe(5);
    const entries: Array<[unknown, unknown]> = [];
    for await (const entry of store.scan()) entries.push(entry);
    expect(entries).toEqual([['c', 1], ['d', 2]]);
    expect(await store.history('a')).toEqual([
      { version: 5, deleted: true },
      { version: 3, value: { n: 3 }, deleted: false },
      { version: 1, value: { n: 1 }, deleted: false },
    ]);
    await store.close();
    const reopened = await openStore(dir, { segmentSizeBytes: 64 * 1024, maxValueBytes: 16 * 1024 });
    expect(reopened.version).toBe(5);
    expect(await reopened.get('a', { asOf: 3 })).toEqual({ n: 3 });
    expect(await reopened.get('c')).toBe(1);
    await reopened.close();
  });

  it('shares one fdatasync among concurrent writers and rotates segments', async () => {
    const dir = temporaryDirectory();
    const options = { segmentSizeBytes: 64 * 1024, maxValueBytes: 16 * 1024 };
    const store = await openStore(dir, options);
    const writes = [];
    for (let i = 0; i < 2000; i++) writes.push(store.put(`key-${String(i).padStart(5, '0')}`, 'x'.repeat(100)));
    const results = await Promise.all(writes);
    expect(new Set(results.map((r) => r.version)).size).toBe(2000);
    const stats = store.stats();
    expect(stats.commits).toBe(2000);
    expect(stats.groupCommits).toBeLessThan(200);
    expect(stats.walSegment).toBeGreaterThan(1);
    await store.close();
    const reopened = await openStore(dir, options);
    expect(reopened.version).toBe(2000);
    expect(reopened.stats().keys).toBe(2000);
    await reopened.close();
  });
});
