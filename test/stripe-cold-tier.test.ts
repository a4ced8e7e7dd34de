/**
 * The cold tier: compaction output at tier COLD_TIER_MIN or deeper is written with
 * compressed (deflate, packed: run format 4) data blocks (the footer says so), tiers below stay uncompressed;
 * stats() shows bytes per tier (hot, warm, cold) and the compression ratio; every value
 * reads back exact through the block cache (which holds decompressed blocks), after a
 * reopen too; a damaged page of a cold run is rebuilt from parity (parity covers the
 * compressed bytes).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { COLD_TIER_MIN, compressionForTier } from '../src/compaction/compaction-policy.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

/** docs/FORMAT.md, run footer: the compression code is the u32 at byte 52 of the last page. */
const FOOTER_COMPRESSION_OFFSET = 52;

const key = (index: number) => `user-${String(index).padStart(7, '0')}`;
const value = (index: number) => ({ id: index, name: `user number ${index}`, email: `user${index}@example.com`, tags: ['alpha', 'beta', 'gamma'], score: index % 100 });

function footerCompression(path: string): number {
  const bytes = readFileSync(path);
  return bytes.readUInt32LE(bytes.length - RUN_PAGE_BYTES + FOOTER_COMPRESSION_OFFSET);
}

function runFiles(directory: string): string[] {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).map((name) => join(directory, 'runs', name));
}

async function putRange(store: Store, from: number, to: number): Promise<void> {
  for (let index = from; index < to; index++) await store.put(key(index), value(index));
}

describe('cold tier', () => {
  it('chooses compression by tier', () => {
    expect(compressionForTier(0)).toBe('none');
    expect(compressionForTier(COLD_TIER_MIN - 1)).toBe('none');
    expect(compressionForTier(COLD_TIER_MIN)).toBe('deflate');
    expect(compressionForTier(COLD_TIER_MIN + 5)).toBe('deflate');
  });

  it('compaction into the cold tier compresses; stats show tiers and the ratio; values read back exact', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    const total = 6000;
    for (let round = 0; round < 3; round++) {
      await putRange(store, round * 1500, (round + 1) * 1500);
      await store.checkpoint();
    }
    await store.compact(); // three tier-0 runs -> one tier-1 run: warm
    let tiers = store.stats().storage.tiers;
    expect(tiers).toMatchObject({ warmRuns: 1, coldRuns: 0, coldBytes: 0, compressionRatio: undefined });
    expect(runFiles(directory).map(footerCompression)).toEqual([RunCompression.none]);

    await putRange(store, 4500, total);
    await store.checkpoint();
    await store.compact(); // tier 1 + tier 0 -> tier 2: cold
    tiers = store.stats().storage.tiers;
    expect(COLD_TIER_MIN).toBe(2);
    expect(tiers.coldRuns).toBe(1);
    expect(tiers.warmRuns).toBe(0);
    expect(tiers.coldBytes).toBe(store.stats().storage.runBytes);
    expect(tiers.compressionRatio).toBeGreaterThan(3);
    expect(tiers.compressedInputBytes).toBeGreaterThan(tiers.compressedOutputBytes);
    const files = runFiles(directory);
    expect(files.map(footerCompression)).toEqual([RunCompression.deflate]);

    for (let index = 0; index < total; index++) expect(await store.get(key(index))).toEqual(value(index));
    // The cache holds decompressed blocks: after reading every key it holds more than the whole compressed file.
    const storage = store.stats().storage;
    expect(storage.blockCacheBytes).toBeGreaterThan(tiers.coldBytes);
    expect(storage.tiers.hotBytes).toBe(storage.memtableBytes + storage.immutableMemtableBytes + storage.cacheBytes);
    expect(storage.tiers.hotBytes).toBeGreaterThan(tiers.coldBytes);
    await store.close();

    const reopened = await openStore(directory);
    expect(reopened.stats().storage.tiers).toMatchObject({ coldRuns: 1, compressionRatio: undefined });
    const scanned: unknown[] = [];
    for await (const [, found] of reopened.scan()) scanned.push(found);
    expect(scanned).toEqual(Array.from({ length: total }, (_, index) => value(index)));
    await reopened.close();
  });

  it('a damaged page of a cold run is rebuilt from parity over the compressed bytes', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    for (let round = 0; round < 2; round++) {
      await putRange(store, round * 2000, (round + 1) * 2000);
      await store.checkpoint();
    }
    await store.compact();
    await putRange(store, 4000, 4500);
    await store.checkpoint();
    await store.compact();
    expect(store.stats().storage.tiers.coldRuns).toBe(1);
    await store.close();
    const [file] = runFiles(directory);
    const original = readFileSync(file as string);
    const damaged = Buffer.from(original);
    damaged.fill(0x3c, 0, RUN_PAGE_BYTES);
    writeFileSync(file as string, damaged);

    const reopened = await openStore(directory);
    const report = await reopened.scrub();
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired).toEqual([expect.objectContaining({ kind: 'data', logicalOffset: 0, stripe: 0 })]);
    expect(readFileSync(file as string).equals(original)).toBe(true);
    for (let index = 0; index < 4500; index += 7) expect(await reopened.get(key(index))).toEqual(value(index));
    await reopened.close();
  });
});
