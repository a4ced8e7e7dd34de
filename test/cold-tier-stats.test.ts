/**
 * stats().storage.tiers counts a run as cold only when its blocks are compressed (its
 * footer says so), not by its tier: a deep run written uncompressed (as every run was
 * before the cold tier existed) is warm, in the process that wrote it and after a
 * reopen once the run is opened. A run not yet opened is classed by its tier (the
 * manifest does not record compression, and open reads no run file): exact for every
 * run written since the cold tier exists, and no release wrote runs before it. The
 * compression ratio covers blocks compressed since open (run files do not record
 * their uncompressed size).
 *
 * "Before the cold tier existed" is simulated by making compressionForTier answer
 * 'none' while the legacy switch is on (what the compactor asked before the change).
 * The mock answers the engine too, so the first session's figures only check the
 * setup; the reopen (switch off, the policy says tier 2 is compressed) is the check
 * that failed before runs were counted by their footers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const legacy = vi.hoisted(() => ({ on: false }));

vi.mock('../src/compaction/compaction-policy.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/compaction/compaction-policy.js')>();
  return { ...original, compressionForTier: (tier: number) => (legacy.on ? 'none' : original.compressionForTier(tier)) };
});

afterEach(() => {
  legacy.on = false;
  removeTemporaryDirectories();
});

/** docs/FORMAT.md, run footer: the compression code is the u32 at byte 52 of the last page. */
const FOOTER_COMPRESSION_OFFSET = 52;

function footerCompressions(directory: string): number[] {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).map((name) => {
    const bytes = readFileSync(join(directory, 'runs', name));
    return bytes.readUInt32LE(bytes.length - RUN_PAGE_BYTES + FOOTER_COMPRESSION_OFFSET);
  });
}

async function putRound(store: Store, round: number): Promise<void> {
  for (let index = 0; index < 1500; index++) await store.put(`key-${String(index).padStart(6, '0')}`, { round, text: 'tier '.repeat(10) });
  await store.checkpoint();
}

/** Three flushed runs compacted to tier 1, then with a fourth to tier 2 (COLD_TIER_MIN). */
async function compactToTierTwo(store: Store): Promise<void> {
  for (let round = 0; round < 3; round++) await putRound(store, round);
  await store.compact();
  await putRound(store, 3);
  await store.compact();
}

describe('tier stats count runs by their compression', () => {
  it('a tier-2 run written uncompressed is warm, before and after a reopen', async () => {
    const directory = temporaryDirectory();
    legacy.on = true;
    const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    await compactToTierTwo(store);
    expect(store.stats().storage.compaction.runsPerLevel[2]).toBe(1);
    expect(footerCompressions(directory)).toEqual([RunCompression.none]);
    const runBytes = store.stats().storage.runBytes;
    expect(store.stats().storage.tiers).toMatchObject({ warmRuns: 1, warmBytes: runBytes, coldRuns: 0, coldBytes: 0, compressionRatio: undefined });
    await store.close();

    legacy.on = false;
    const reopened = await openStore(directory);
    expect(await reopened.get('key-000000')).toEqual({ round: 3, text: 'tier '.repeat(10) });
    expect(reopened.stats().storage.tiers).toMatchObject({ warmRuns: 1, warmBytes: runBytes, coldRuns: 0, coldBytes: 0 });
    await reopened.close();
  }, 60_000);

  it('a compressed tier-2 run is cold after a reopen, its ratio unknown until compaction compresses again', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    await compactToTierTwo(store);
    expect(footerCompressions(directory)).toEqual([RunCompression.deflate]);
    expect(store.stats().storage.tiers.compressionRatio).toBeGreaterThan(1);
    await store.close();

    const reopened = await openStore(directory);
    const runBytes = reopened.stats().storage.runBytes;
    expect(reopened.stats().storage.tiers).toMatchObject({ warmRuns: 0, coldRuns: 1, coldBytes: runBytes, compressionRatio: undefined });
    await reopened.close();
  }, 60_000);
});
