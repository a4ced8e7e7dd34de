/**
 * Disk space over many cycles: what a store running for months keeps on disk must not
 * grow with the number of flushes, compactions or lease renewals, only with what it
 * retains. Seeded and deterministic (the same keys and values each run).
 * - The same 2,000 keys overwritten cycle after cycle (maxVersionsPerKey 1), each cycle
 *   checkpointed and compacted now and then: the run bytes, the WAL's files and the whole
 *   directory stay level after the first cycles; runs/ holds runs and at most the
 *   outputs of the merges running, and nothing else once closed.
 * - Every key then deleted, checkpointed and compacted with the retention floor at the
 *   newest version: no run is left (bytesOnDisk 0), runs/ is empty.
 * - A lease renewed under the default retention (README: renewals are commits, and their
 *   versions are kept): one run entry per renewal, measured and held to that rate, and a
 *   raised floor brings the record back to one entry.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const KEYS = 2000;
const CYCLES = 12;

/** Allocated bytes and file names under `directory`, by subdirectory ('' for the top). */
function diskUse(directory: string): { bytes: number; files: Map<string, string[]> } {
  let bytes = 0;
  const files = new Map<string, string[]>();
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(directory, relative), { withFileTypes: true })) {
      const path = join(relative, entry.name);
      if (entry.isDirectory()) {
        files.set(path, files.get(path) ?? []);
        walk(path);
      } else {
        bytes += statSync(join(directory, path)).blocks * 512;
        files.set(relative, [...(files.get(relative) ?? []), entry.name]);
      }
    }
  };
  walk('');
  return { bytes, files };
}

async function overwriteAll(store: Store, cycle: number): Promise<void> {
  for (let start = 0; start < KEYS; start += 400) {
    const operations = [];
    for (let index = start; index < start + 400; index++) {
      operations.push({ type: 'put' as const, key: `key-${String(index).padStart(5, '0')}`, value: `cycle ${cycle} ${'v'.repeat(40 + (index * 7919) % 60)}` });
    }
    await store.batch(operations);
  }
}

describe('disk space over many cycles', () => {
  it('steady overwrites stay level; deleting everything under a raised floor leaves no run', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024, maxVersionsPerKey: 1 });
    const level: { runBytes: number; directoryBytes: number }[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await overwriteAll(store, cycle);
      await store.checkpoint();
      if (cycle % 3 === 2) await store.compact();
      const use = diskUse(directory);
      // A background merge may be writing its output (at most two run at once).
      const temporary = use.files.get('runs')!.filter((name) => !/^\d+\.run$/.test(name));
      expect(temporary.length, `runs/ after cycle ${cycle}: ${use.files.get('runs')!.join(' ')}`).toBeLessThanOrEqual(2);
      expect(use.files.get('wal')!.length, `wal/ after cycle ${cycle}: ${use.files.get('wal')!.join(' ')}`).toBeLessThanOrEqual(4);
      level.push({ runBytes: store.stats().storage.compaction.bytesOnDisk, directoryBytes: use.bytes });
    }
    // After a compaction (cycles 5 and 11): the same live data, so the same space. Measured:
    // 73,728 run bytes at cycles 2, 5, 8 and 11; the directory 159,744, 167,936, 192,512 and
    // 208,896 bytes, the manifest's edits (rewritten as one record after 1,024 of them).
    const early = level[5]!;
    const late = level[CYCLES - 1]!;
    expect(late.runBytes).toBeLessThanOrEqual(early.runBytes * 1.25);
    expect(late.directoryBytes).toBeLessThanOrEqual(early.directoryBytes * 2);

    for (let start = 0; start < KEYS; start += 400) {
      const operations = [];
      for (let index = start; index < start + 400; index++) operations.push({ type: 'del' as const, key: `key-${String(index).padStart(5, '0')}` });
      await store.batch(operations);
    }
    await store.checkpoint();
    const result = await store.compact({ retainFrom: store.version });
    expect(result.retentionFloor).toBe(store.version);
    const stats = store.stats();
    expect(stats.storage.compaction.bytesOnDisk).toBe(0);
    expect(stats.storage.runs).toBe(0);
    expect(diskUse(directory).files.get('runs')).toEqual([]);
    await store.close();
    expect(diskUse(directory).files.get('runs')).toEqual([]);
    const reopened = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    expect(await reopened.get('key-00001')).toBeUndefined();
    expect(reopened.stats().storage.runs).toBe(0);
    await reopened.close();
  }, 60_000);

  it('a lease renewed under the default retention keeps one run entry per renewal until the floor is raised', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 1024 * 1024 });
    const lease = await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 600_000 });
    const entries: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (let renewal = 0; renewal < 250; renewal++) await store.leases.renew('jobs/nightly', { owner: 'worker-7', token: lease.token });
      await store.checkpoint();
      await store.compact();
      entries.push(store.stats().storage.runEntries);
    }
    // Measured: 251 and 501 entries (the acquisition and each renewal), about 72 KiB of run
    // after compaction at 1,500 renewals (the records compress well in the cold tier).
    expect(entries[1]! - entries[0]!).toBe(250);
    await store.compact({ retainFrom: store.version });
    expect(store.stats().storage.runEntries).toBe(1);
    expect((await store.leases.get('jobs/nightly'))?.token).toBe(lease.token);
    await store.close();
  }, 60_000);
});
