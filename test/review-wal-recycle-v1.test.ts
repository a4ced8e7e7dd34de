/**
 * Review of WAL format 2 (19b338d) against a store written in format 1
 * (test/fixtures/store-wal-v1): its format-1 segments (16 KiB, records tagged 0) are
 * covered by the first flushes, go to the recycled pool, and become format-2 segments
 * whose bytes past their records are format-1 records. A crash at sampled operations
 * of that workload, in every crash mode, must keep every acknowledged put and the
 * fixture's contents, and the reopened store must take a write and reopen again.
 * Checkpoints every 40 puts (about two 16 KiB segments): the pool is taken newest
 * first, so a fixture file is reached only when an interval takes every newer one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'store-wal-v1');
const STORE = '/db';
const OPTIONS = { segmentSizeBytes: 16 * 1024, memoryBudgetBytes: 256 * 1024, checkpointOnClose: false } as const;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];
const PUTS = 160;
const expected = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'store-wal-v1.expected.json'), 'utf8')) as { version: number; entries: Array<[string, unknown]> };

async function fixtureOn(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(STORE);
  await fileSystem.syncDirectory('/');
  for (const directory of ['', 'manifest', 'runs', 'wal']) {
    const target = directory === '' ? STORE : `${STORE}/${directory}`;
    if (directory !== '') {
      await fileSystem.mkdir(target);
      await fileSystem.syncDirectory(STORE);
    }
    for (const entry of readdirSync(join(FIXTURE, directory), { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const handle = await fileSystem.open(`${target}/${entry.name}`, 'createExclusive');
      await handle.write(readFileSync(join(FIXTURE, directory, entry.name)), 0);
      await handle.sync();
      await handle.close();
    }
    await fileSystem.syncDirectory(target);
  }
  return fileSystem;
}

function valueOf(index: number): string {
  return `${index}:`.padEnd(700, 'w');
}

/** True when a file of wal/ with a format-2 header holds format-1 bytes (a fixture file was made a segment). */
async function fixtureFileReused(fileSystem: FaultFileSystem): Promise<boolean> {
  for (const name of await fileSystem.readdir(`${STORE}/wal`)) {
    // A listed file may be gone by the read (recycled or deleted meanwhile).
    const bytes = await fileSystem.readFile(`${STORE}/wal/${name}`).catch(() => undefined);
    if (bytes === undefined) continue;
    const image = Buffer.from(bytes);
    if (image.readUInt32LE(8) === 2 && image.indexOf(Buffer.from('batch-a')) >= 0) return true;
  }
  return false;
}

interface Run {
  acknowledged: number[];
  store: Store | undefined;
  sawReusedFixtureFile: boolean;
}

async function runWorkload(fileSystem: FaultFileSystem, crashAfter: number | undefined): Promise<Run> {
  const run: Run = { acknowledged: [], store: undefined, sawReusedFixtureFile: false };
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  try {
    run.store = await openStore(STORE, { ...OPTIONS, fileSystem });
    for (let index = 0; index < PUTS; index++) {
      await run.store.put(`after-${String(index).padStart(4, '0')}`, valueOf(index));
      run.acknowledged.push(index);
      if (index % 40 === 19) await run.store.checkpoint();
      // After every put, not only after the checkpoints: when the memtables seal (their share of
      // the budget) decides which segment is recycled and how long it lives.
      if (crashAfter === undefined && !run.sawReusedFixtureFile && (await fixtureFileReused(fileSystem))) run.sawReusedFixtureFile = true;
    }
  } catch (error) {
    if (crashAfter === undefined) throw error;
  }
  return run;
}

async function checkAfterCrash(crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = await fixtureOn(seed);
  const run = await runWorkload(fileSystem, crashAfter);
  run.store?.[abandonStore]();
  const rebooted = fileSystem.crash(mode);
  const problems: string[] = [];
  let store: Store;
  try {
    store = await openStore(STORE, { ...OPTIONS, fileSystem: rebooted });
  } catch (error) {
    return [`reopen failed: ${String(error)}`];
  }
  try {
    for (const index of run.acknowledged) {
      const value = await store.get(`after-${String(index).padStart(4, '0')}`);
      if (value !== valueOf(index)) problems.push(`acknowledged put ${index} reads ${JSON.stringify(value)?.slice(0, 20)}`);
    }
    for (const [key, value] of expected.entries) {
      if (JSON.stringify(await store.get(key)) !== JSON.stringify(value)) problems.push(`fixture key ${key} changed`);
    }
    await store.put('after-crash', 1);
    await store.close();
    const again = await openStore(STORE, { ...OPTIONS, fileSystem: rebooted.crash('drop-unsynced') });
    if ((await again.get('after-crash')) !== 1) problems.push('the write after the crash is lost');
    await again.close();
  } catch (error) {
    problems.push(`after reopen: ${String(error)}`);
  }
  return problems;
}

describe('a format-1 store whose segments are recycled into format-2 ones', () => {
  it('the workload reuses a fixture file as a format-2 segment and reopens exact', async () => {
    const fileSystem = await fixtureOn(1);
    const run = await runWorkload(fileSystem, undefined);
    expect(run.sawReusedFixtureFile).toBe(true);
    expect(run.acknowledged.length).toBe(PUTS);
    await run.store!.close();
    expect((await checkAfterCrash(1_000_000, 'drop-unsynced', 2))).toEqual([]);
  });

  for (const [modeIndex, mode] of CRASH_MODES.entries()) {
    it(`${mode}: a crash at sampled operations keeps every acknowledged put and the fixture's contents`, async () => {
      const counter = await fixtureOn(1);
      const before = counter.operationCount;
      const run = await runWorkload(counter, 1_000_000);
      const operations = counter.operationCount - before;
      run.store?.[abandonStore]();
      expect(operations).toBeGreaterThan(500);
      const failures: string[] = [];
      // Every 13th operation, offset by mode: deterministic, about 1/13 of the points per mode.
      for (let crashAfter = modeIndex * 3; crashAfter <= operations; crashAfter += 13) {
        for (const problem of await checkAfterCrash(crashAfter, mode, 100 * modeIndex + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
        if (failures.length >= 10) break;
      }
      expect(failures).toEqual([]);
    }, 240_000);
  }
});
