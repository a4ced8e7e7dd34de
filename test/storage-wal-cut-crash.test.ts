/**
 * Crash sweep over the WAL cut at memtable seals (WalWriter#cutAtNextRecord): a seal
 * at the end of a record makes the writer create a new segment before the next
 * record (create, zero fill, header, fsync, directory fsync; a prepared next segment
 * unlinked), and the flush of the sealed memtable records the new segment as the WAL
 * start and deletes the segments below it.
 *
 * The workload is test/workload.ts's deterministic multi-writer plan with a tiny
 * budget (memtables sealed every few dozen commits by the commit path, not by
 * checkpoints: checkpointOnClose off, no store.checkpoint()): 336 file-system
 * operations, 5 flushes. Every crash point (every operation of the run) is tried in
 * one crash mode (point k in mode k mod 4, to bound the runtime): reopen, then
 * exactly the acknowledged data, no WAL segment below the manifest's WAL start, and
 * the store takes a write.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import type { StoreOptions } from '../src/store/options.js';
import { abandon, checkRecovered, openOn, planWorkload, runWorkload, STORE_DIR, WAL_DIR } from './workload.js';

/** Memtable share 32 KiB: the plan seals several memtables through the commit path. */
const OPTIONS: StoreOptions = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: false };
const PLAN = planWorkload({ writers: 4, opsPerWriter: 45 });

async function walStartSegment(fileSystem: FaultFileSystem): Promise<number> {
  const manifest = await Manifest.open(fileSystem, STORE_DIR, await loadHash64(), { create: false });
  const start = manifest.state.walStartSegment;
  await manifest.close();
  return start;
}

async function crashAndCheck(k: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  fileSystem.crashAfterOperations(k);
  const record = await runWorkload(fileSystem, PLAN, OPTIONS);
  abandon(record);
  const rebooted = fileSystem.crash(mode);
  let reopened;
  try {
    reopened = await openOn(rebooted, OPTIONS);
  } catch (error) {
    return [`reopen after the crash failed: ${String(error)}`];
  }
  const problems = await checkRecovered(reopened, PLAN, record);
  try {
    await reopened.put('after-crash', k);
  } catch (error) {
    problems.push(`the reopened store did not accept a write: ${String(error)}`);
  }
  await reopened.close();
  const start = await walStartSegment(rebooted);
  // Recycled files (WAL format 2: recycled-<number>-<size>.log) are not segments and never replayed.
  const below = (await rebooted.readdir(WAL_DIR)).filter((name) => !/^recycled-\d{10}-\d+\.log$/.test(name))
    .filter((name) => Number(/wal-(\d+)\.log$/.exec(name)?.[1] ?? 0) < start);
  if (below.length > 0) problems.push(`WAL segments ${below.join(', ')} left below the WAL start ${start}`);
  return problems;
}

describe('crash during WAL cuts at memtable seals', () => {
  it('the uninterrupted workload seals and flushes through the commit path, deleting the cut-off segments', async () => {
    const fileSystem = new FaultFileSystem(1);
    const record = await runWorkload(fileSystem, PLAN, OPTIONS);
    const stats = record.store!.stats().storage;
    expect(stats.flushes).toBeGreaterThanOrEqual(3);
    expect(stats.walSegmentsDeleted).toBeGreaterThanOrEqual(stats.flushes - 1);
    abandon(record);
  });

  const modes: Array<{ mode: CrashMode; offset: number }> = [
    { mode: 'drop-unsynced', offset: 0 },
    { mode: 'torn-last-write', offset: 1 },
    { mode: 'random-subset', offset: 2 },
    { mode: 'keep-all', offset: 3 },
  ];
  for (const { mode, offset } of modes) {
    it(`${mode}: every sampled crash point reopens with exactly the acknowledged data`, async () => {
      const measure = new FaultFileSystem(1);
      const record = await runWorkload(measure, PLAN, OPTIONS);
      const operations = measure.operationCount;
      abandon(record);
      const failures: string[] = [];
      const stride = modes.length;
      for (let k = offset; k <= operations; k += stride) {
        for (const problem of await crashAndCheck(k, mode, 1000 * offset + k)) failures.push(`k=${k}: ${problem}`);
        if (failures.length > 5) break;
      }
      expect(failures).toEqual([]);
    }, 120_000);
  }
});
