/**
 * Review of the merge thread: with the retention rules in force together (a pin held
 * below the current version, so the horizon is not Infinity; a raised retention floor,
 * compact({ retainFrom }); maxVersionsPerKey), the thread's merge keeps exactly the
 * entries the in-process merge keeps: same results (counters), same history of every
 * key, same as-of reads at the pin, same run file sizes (the files differ only in their
 * random generation). Same inputs: one store directory copied before either merge.
 */
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { mergeThreadsRunning, mergeThreadTestHooks } from '../src/compaction/merge-thread.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
const KEYS = 1200;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  mergeThreadTestHooks.holdNextMerge = false;
  compactionTestHooks.onHorizon = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(5, '0')}`;

/** Round `round`: keys written again (a third of them only), some deleted; one batch per 300 keys; flushed. */
async function writeRound(store: Store, round: number, flush = true): Promise<number[]> {
  const versions: number[] = [];
  for (let start = 0; start < KEYS; start += 300) {
    const operations = [];
    for (let index = start; index < start + 300; index++) {
      if (round > 0 && index % 3 !== round % 3) continue;
      operations.push(index % 11 === round ? { type: 'del' as const, key: key(index) } : { type: 'put' as const, key: key(index), value: { index, round } });
    }
    versions.push((await store.batch(operations)).version);
  }
  if (flush) await store.checkpoint();
  return versions;
}

function files(directory: string): [string, number][] {
  const runs = join(directory, 'runs');
  return readdirSync(runs).sort().map((name) => [name, statSync(join(runs, name)).size]);
}

describe('retention rules: the thread keeps exactly what the in-process merge keeps', () => {
  it('pin below the current version + retainFrom + maxVersionsPerKey: same results, histories, as-of reads and sizes', async () => {
    const threaded = temporaryDirectory();
    compactionSettings.mergeThread = 'main';
    const setup = await openStore(threaded, OPTIONS);
    const versions: number[] = [];
    for (let round = 0; round < 6; round++) versions.push(...(await writeRound(setup, round)));
    await setup.close();
    const inProcess = temporaryDirectory();
    cpSync(threaded, inProcess, { recursive: true });
    const floor = versions[5]!; // in round 1
    const observed: Record<string, unknown> = {};
    for (const [directory, mode] of [[threaded, 'worker'], [inProcess, 'main']] as const) {
      compactionSettings.mergeThread = mode;
      // With the thread a merge the policy wants starts at open: hold it so that compact()
      // supersedes it (cancelled) and both modes merge the same inputs.
      mergeThreadTestHooks.holdNextMerge = mode === 'worker';
      const store = await openStore(directory, OPTIONS);
      if (store.stats().storage.compaction.running) {
        await vi.waitFor(() => expect(mergeThreadTestHooks.holdNextMerge).toBe(false), { timeout: 30_000, interval: 5 });
      }
      mergeThreadTestHooks.holdNextMerge = false;
      // A pin at a version below the newest: the horizon of both merges.
      const snapshot = await store.snapshot();
      await writeRound(store, 6, false); // newer than the pin; not flushed (no merge scheduled)
      const pinned = snapshot.version;
      const result = await store.compact({ retainFrom: floor });
      // The WAL's spare-segment release (99c9777) is compact()'s too, but not the merge's: how many recycled
      // segments wait in the pool depends on when each store's rotations ran, not on the thread.
      const { durationMs: _durationMs, walSegmentsReleased: _segments, walBytesReleased: _bytes, ...withoutDuration } = result;
      expect(result.outcome).toBe('compacted');
      expect(result.horizon).toBe(pinned);
      expect(result.retentionFloor).toBe(floor);
      const histories = [];
      for (let index = 0; index < KEYS; index++) histories.push(await store.history(key(index)));
      const asOfPin = [];
      for await (const entry of store.scan({ asOf: pinned })) asOfPin.push(entry);
      const atPin = [];
      for await (const entry of snapshot.scan()) atPin.push(entry);
      expect(atPin).toEqual(asOfPin);
      await snapshot.release();
      expect(mergeThreadsRunning()).toBe(mode === 'worker' ? 1 : 0);
      observed[mode] = { result: withoutDuration, histories, asOfPin, files: files(directory) };
      await store.close();
    }
    const worker = observed['worker'] as { result: { entriesDropped: number; markersOut: number } };
    expect(worker.result.entriesDropped).toBeGreaterThan(0);
    expect(observed['worker']).toEqual(observed['main']);
  }, 120_000);
});

describe('a pin taken while the thread merges (the abort path, real file system)', () => {
  it('an as-of scan pinned after the horizon was read aborts: the thread\'s output is removed, the pinned versions stay readable', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { ...OPTIONS, maxVersionsPerKey: 1 });
    for (let index = 0; index < 500; index++) await store.put(key(index), 'a');
    const first = store.version;
    await store.checkpoint();
    for (let index = 0; index < 500; index++) await store.put(key(index), 'b');
    await store.checkpoint();
    const inputs = files(directory).map(([name]) => name);
    expect(inputs).toHaveLength(2);
    let scan: AsyncIterableIterator<[string | Uint8Array, unknown]> | undefined;
    compactionTestHooks.onHorizon = (horizon) => {
      expect(horizon).toBe(Infinity);
      scan = store.scan({ asOf: first }); // pins `first` now, after the horizon was read
    };
    const aborted = await store.compact();
    compactionTestHooks.onHorizon = undefined;
    expect(aborted.outcome).toBe('aborted');
    expect(mergeThreadsRunning()).toBe(1); // the merge ran in the thread
    expect(files(directory).map(([name]) => name)).toEqual(inputs); // its output removed, inputs kept
    // The pin at `first` keeps 'a' on disk, but a pin below what reads retain only holds
    // (read-pins.ts): 'a' (beyond the newest 1) stays refused as before the scan, as in
    // process (compaction-store.test.ts; retention review, 2026-12-03).
    for (let index = 0; index < 500; index += 7) {
      await expect(store.get(key(index), { asOf: first })).rejects.toMatchObject({ code: 'LADYBUG_VERSION_NOT_RETAINED' });
    }
    await scan!.return!();
    const compacted = await store.compact();
    expect(compacted).toMatchObject({ outcome: 'compacted', entriesDropped: 500 });
    expect(files(directory)).toHaveLength(1);
    expect(store.stats().storage.compaction).toMatchObject({ aborted: 1, failures: 0 });
    await store.close();
  }, 60_000);
});
