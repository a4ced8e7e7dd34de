/**
 * The storage engine through the public API: data beyond the memory budget lives
 * in runs, checkpoints delete the WAL they cover, a clean reopen replays nothing,
 * a store written by release 0.1 (WAL only) opens and is upgraded, and every read
 * (get, as-of, history, scans both ways, snapshots, transactions) merges memtables
 * and runs with the same answers as before.
 */
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const TINY = { memoryBudgetBytes: 256 * 1024 };
const key = (index: number) => `key-${String(index).padStart(6, '0')}`;

async function collect(store: Store | { scan: Store['scan'] }, options?: Parameters<Store['scan']>[0]): Promise<Array<[unknown, unknown]>> {
  const entries: Array<[unknown, unknown]> = [];
  for await (const entry of store.scan(options)) entries.push(entry);
  return entries;
}

describe('storage engine: runs, checkpoints and reopen', () => {
  it('holds data beyond a tiny budget in runs and reads it all back, before and after reopen', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory, TINY);
    const expected = new Map<string, unknown>();
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 3000; index += 1 + round) {
        const value = { round, index, text: 'v'.repeat(60) };
        await store.put(key(index), value);
        expected.set(key(index), value);
      }
      for (let index = round; index < 3000; index += 17) {
        await store.delete(key(index));
        expected.delete(key(index));
      }
    }
    const stats = store.stats();
    expect(stats.storage.runs).toBeGreaterThan(1);
    expect(stats.storage.flushes).toBeGreaterThan(1);
    const check = async () => {
      for (const [name, value] of expected) expect(await store.get(name)).toEqual(value);
      expect(await store.get(key(17))).toBeUndefined();
      const sorted = [...expected.entries()].sort(([left], [right]) => (left < right ? -1 : 1));
      expect(await collect(store)).toEqual(sorted);
      expect(await collect(store, { reverse: true })).toEqual(sorted.slice().reverse());
      expect(await collect(store, { gte: key(100), lt: key(200), limit: 20 })).toEqual(sorted.filter(([name]) => name >= key(100) && name < key(200)).slice(0, 20));
    };
    await check();
    await store.close();
    store = await openStore(directory, TINY);
    // The close cut the WAL at a new segment and checkpointed: the reopen reads no record at all.
    expect(store.stats().recovery.commits).toBe(0);
    expect(store.stats().recovery.records).toBe(0);
    await check();
    await store.close();
  });

  it('as-of reads and history span memtables and runs', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, TINY);
    const versions: number[] = [];
    for (let index = 0; index < 5; index++) {
      versions.push((await store.put('k', index)).version);
      await store.checkpoint();
    }
    versions.push((await store.delete('k')).version);
    for (let index = 0; index < 5; index++) expect(await store.get('k', { asOf: versions[index]! })).toBe(index);
    expect(await store.get('k')).toBeUndefined();
    expect(await store.get('k', { asOf: versions[0]! - 1 })).toBeUndefined();
    const history = await store.history('k');
    expect(history.map((entry) => entry.version)).toEqual(versions.slice().reverse());
    expect(history[0]!.deleted).toBe(true);
    await store.close();
  });

  it('retention by count holds across runs: reads below the newest N fail, reads before the first version answer absent', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { ...TINY, maxVersionsPerKey: 2 });
    await store.put('other', 0);
    const first = (await store.put('k', 1)).version;
    await store.checkpoint();
    const second = (await store.put('k', 2)).version;
    await store.checkpoint();
    const third = (await store.put('k', 3)).version;
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('k', { asOf: second })).toBe(2);
    expect(await store.get('k', { asOf: third })).toBe(3);
    expect(await store.get('k', { asOf: first - 1 })).toBeUndefined();
    expect((await store.history('k')).map((entry) => entry.value)).toEqual([3, 2]);
    await store.close();
  });

  it('checkpoint deletes the WAL segments its runs cover, and a clean reopen replays nothing', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory, { segmentSizeBytes: 64 * 1024 });
    for (let index = 0; index < 2000; index++) await store.put(key(index), 'x'.repeat(100));
    // Segments only: covered ones may stay as recycled files (WAL format 2), which are never replayed.
    const segmentCount = (): number => readdirSync(join(directory, 'wal')).filter((name) => name.startsWith('wal-')).length;
    const segmentsBefore = segmentCount();
    const result = await store.checkpoint();
    expect(result.runsWritten).toBe(1);
    expect(result.walSegmentsDeleted).toBeGreaterThan(0);
    expect(segmentCount()).toBeLessThan(segmentsBefore);
    expect(readdirSync(join(directory, 'runs'))).toHaveLength(1);
    await store.close();
    store = await openStore(directory);
    expect(store.stats().recovery.commits).toBe(0);
    expect(await store.get(key(1999))).toBe('x'.repeat(100));
    await store.close();
  });

  it('a new empty store is small on disk', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.close();
    let total = 0;
    const walk = (path: string) => {
      for (const name of readdirSync(path)) {
        const child = join(path, name);
        const stat = statSync(child);
        if (stat.isDirectory()) walk(child);
        else total += stat.size;
      }
    };
    walk(directory);
    expect(total).toBeLessThan(1024 * 1024);
  });

  it('opens a store written by release 0.1 (WAL only), upgrades it, and reads exactly what that release read', async () => {
    const directory = temporaryDirectory();
    cpSync(join(import.meta.dirname, 'fixtures', 'store-v0.1-wal-only'), directory, { recursive: true });
    const expected = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'store-v0.1-wal-only.expected.json'), 'utf8')) as {
      version: number; entries: Array<[string, unknown]>; historyKey0007: unknown; key0011AsOf100: unknown;
    };
    const revive = (value: unknown) => JSON.parse(JSON.stringify(value), (_name, item: unknown) =>
      (item !== null && typeof item === 'object' && '$bigint' in item ? BigInt((item as { $bigint: string }).$bigint) : item));
    for (let pass = 0; pass < 2; pass++) {
      const store = await openStore(directory, { segmentSizeBytes: 16 * 1024, keyEncoding: 'binary' });
      expect(store.version).toBe(expected.version);
      const entries = (await collect(store)).map(([name, value]) => [Buffer.from(name as Uint8Array).toString('hex'), value]);
      expect(entries).toEqual(revive(expected.entries));
      expect(await store.history('key-0007')).toEqual(revive(expected.historyKey0007));
      expect(await store.get('key-0011', { asOf: 100 })).toEqual(expected.key0011AsOf100);
      if (pass === 0) expect(store.stats().recovery.upgradedFromWalOnly).toBe(true);
      else expect(store.stats().recovery.commits).toBe(0);
      await store.close();
    }
    expect(readdirSync(join(directory, 'manifest')).length).toBe(2);
  });

  it('snapshots and transactions keep reading their version while flushes move data to runs', async () => {
    const fileSystem = new FaultFileSystem(1);
    const store = await openStore('/db', { ...TINY, fileSystem });
    for (let index = 0; index < 500; index++) await store.put(key(index), index);
    const snapshot = await store.snapshot();
    for (let index = 0; index < 500; index++) await store.put(key(index), -index);
    await store.checkpoint();
    for (let index = 0; index < 500; index += 50) expect(await snapshot.get(key(index))).toBe(index);
    const seen = await collect(snapshot);
    expect(seen).toHaveLength(500);
    expect(seen.every(([, value]) => (value as number) >= 0)).toBe(true);
    await snapshot.release();
    const total = await store.transaction(async (tx) => {
      let sum = 0;
      for await (const [, value] of tx.scan()) sum += value as number;
      tx.put('sum', sum);
      return sum;
    });
    expect(total).toBe(-((499 * 500) / 2));
    await store.close();
  });

  it('a run block damaged on disk is rebuilt from parity on read: exact values, counted in stats, logged once', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory);
    for (let index = 0; index < 2000; index++) await store.put(key(index), { index, text: 'v'.repeat(80) });
    await store.close();
    const [runFile] = readdirSync(join(directory, 'runs'));
    const path = join(directory, 'runs', runFile!);
    const bytes = readFileSync(path);
    bytes.fill(0xee, 200, 208); // 8 bytes inside the first data page
    writeFileSync(path, bytes);
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === 'LADYBUG_BLOCK_REPAIRED') warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      store = await openStore(directory);
      for (let index = 0; index < 2000; index += 7) expect(await store.get(key(index))).toEqual({ index, text: 'v'.repeat(80) });
      expect(await collect(store)).toHaveLength(2000);
      expect(store.stats().storage.repairedBlocks).toBeGreaterThanOrEqual(1);
      expect(store.stats().storage.unrecoverableBlocks).toBe(0);
      await store.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings[0]).toContain(runFile);
      // Rewritten in place: the file is whole again.
      expect(readFileSync(path).subarray(200, 208).equals(Buffer.alloc(8, 0xee))).toBe(false);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
