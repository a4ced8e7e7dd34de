/**
 * A store dropped with store[abandonStore]() (the crash tests' "the process died")
 * leaves no cold-tier compression threads running: a dead process has none, and a
 * test process that abandons many handles must not pile up piscina workers. A
 * compaction racing the drop fails with StoreClosedError rather than restarting them.
 */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { ColdTierCompressor, compressionPoolsSettled, compressionThreadsRunning } from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

beforeAll(async () => {
  // The pool needs the built worker; tsc emits even when another engineer's file has a transient type error.
  if (!existsSync(join(root, 'dist', 'src', 'run', 'compression-worker.js'))) {
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => undefined);
  }
}, 120_000);

async function putRound(store: Store, round: number): Promise<void> {
  for (let index = 0; index < 1500; index++) await store.put(`key-${String(index).padStart(6, '0')}`, { round, text: 'cold tier '.repeat(8) });
  await store.checkpoint();
}

describe('abandonStore and the cold-tier compression pool', () => {
  it('a handle abandoned after writing a cold run leaves no compression thread running', async () => {
    await compressionPoolsSettled();
    expect(compressionThreadsRunning()).toBe(0);
    const directory = temporaryDirectory();
    // The pool compresses the in-process merge's blocks (the merge thread compresses inline).
    compactionSettings.mergeThread = 'main';
    const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024 });
    for (let round = 0; round < 3; round++) await putRound(store, round);
    await store.compact(); // tier 0 -> tier 1 (warm)
    await putRound(store, 3);
    await store.compact(); // tier 1 + tier 0 -> tier 2 (cold): the pool starts
    expect(store.stats().storage.tiers.coldRuns).toBe(1);
    expect(compressionThreadsRunning()).toBeGreaterThan(0);

    store[abandonStore]();
    await compressionPoolsSettled();
    expect(compressionThreadsRunning()).toBe(0);

    // The directory reopens (the lock is a dead holder's) with every value.
    const reopened = await openStore(directory);
    expect(await reopened.get('key-000000')).toEqual({ round: 3, text: 'cold tier '.repeat(8) });
    await reopened.close();
    expect(compressionThreadsRunning()).toBe(0);
  }, 60_000);

  it('an abandoned compressor refuses later blocks with StoreClosedError (no pool restarted)', async () => {
    const compressor = new ColdTierCompressor(1);
    await compressor.compress(RunCompression.brotli, new Uint8Array(4096).fill(7));
    await compressor.abandon();
    await expect(compressor.compress(RunCompression.brotli, new Uint8Array(16))).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    expect(compressionThreadsRunning()).toBe(0);
  });
});
