/**
 * The crash-recovery harness with real processes (src/harness/crash-test.ts):
 * workers SIGKILLed at random moments, or crashed on the fault-injecting file
 * system, and every recovery checked against what they acknowledged.
 *
 * Also here: the harness's verifier must itself catch a lost, a torn and a phantom
 * commit (a checker that never fails proves nothing), and a kill followed by a
 * power loss, in-process on the fault file system.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { Manifest } from '../src/manifest/manifest.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';

const HARNESS_SEGMENT_BYTES_SMALL = 64 * 1024;
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { allHarnessKeys, type Intent, valueOf } from '../src/harness/crash-protocol.js';
import { CrashModel } from '../src/harness/crash-model.js';
import { crashTestPassed, formatSummary, runCrashTest, type CrashTestSummary } from '../src/harness/crash-test.js';
import { verifyRecoveredStore } from '../src/harness/crash-verify.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { HangingSyncFileSystem } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

let workerPath = '';

beforeAll(async () => {
  workerPath = await harnessEntryPath('crash-worker');
}, 180_000);

function expectClean(summary: CrashTestSummary): void {
  console.log(formatSummary(summary));
  expect(summary.problems).toEqual([]);
  expect(summary.lost).toBe(0);
  expect(summary.torn).toBe(0);
  expect(summary.inconsistent).toBe(0);
  expect(summary.failedOpens).toBe(0);
  expect(summary.workerErrors).toBe(0);
  expect(summary.acknowledged).toBeGreaterThan(0);
  expect(crashTestPassed(summary)).toBe(true);
}

describe('crash harness with real processes', () => {
  it('kill mode: 24 workers SIGKILLed 1-300 ms after ready lose nothing acknowledged and tear nothing', async () => {
    const summary = await runCrashTest({ cycles: 24, seed: 20261122, mode: 'kill', killAfterMsMin: 1, killAfterMsMax: 300, workerPath });
    expectClean(summary);
    expect(summary.cycles).toBe(24);
  }, 240_000);

  it('power-loss mode: workers crashed on the fault file system lose nothing acknowledged and tear nothing', async () => {
    const summary = await runCrashTest({ cycles: 10, seed: 7, mode: 'power-loss', killAfterMsMin: 1, killAfterMsMax: 200, workerPath });
    expectClean(summary);
    expect(summary.cycles).toBe(10);
  }, 240_000);

  it('kill mode with the smallest memory budget and small segments: kills during flushes and compactions, and after installs and WAL deletions, lose nothing', async () => {
    const directory = `${temporaryDirectory('ladybug-crash-budget-')}/store`;
    const cycles = 12;
    // The workers report their stores' background work (src/harness/crash-worker.ts): what they
    // flushed, compacted and deleted before the kill, and whether a flush or a compaction was
    // running when it came. Kills up to 1.5 s after ready: with 400 ms no worker lived to finish
    // a compaction (12 cycles, 2 seeds), so compaction installs were never cut short after the
    // fact. A worker on a loaded machine may be killed early in every cycle: then another 12
    // cycles run on the same store (the harness adopts it), up to three rounds, each checked
    // clean, until every figure below was reached.
    const totals = { flushes: 0, compactions: 0, walSegmentsDeleted: 0, crashesDuringFlush: 0, crashesDuringCompaction: 0 };
    let walStartSegment = 0;
    for (let round = 1; round <= 3; round += 1) {
      const summary = await runCrashTest({
        cycles, seed: 20261130 + round - 1, mode: 'kill', killAfterMsMin: 50, killAfterMsMax: 1500, workerPath, directory,
        // 64 KiB segments: the workload writes values of up to 32 KiB, which 16 KiB segments refuse.
        memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, segmentSizeBytes: HARNESS_SEGMENT_BYTES_SMALL,
      });
      expectClean(summary);
      expect(summary.cycles).toBe(cycles);
      totals.flushes += summary.workerFlushes;
      totals.compactions += summary.workerCompactions;
      totals.walSegmentsDeleted += summary.workerWalSegmentsDeleted;
      totals.crashesDuringFlush += summary.crashesDuringFlush;
      totals.crashesDuringCompaction += summary.crashesDuringCompaction;
      const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
      walStartSegment = manifest.state.walStartSegment;
      await manifest.close();
      if (Object.values(totals).every((count) => count > 0) && walStartSegment > 1) break;
    }
    console.log(`smallest budget, workers' totals: ${JSON.stringify(totals)}`);
    expect(totals.flushes).toBeGreaterThan(0);
    expect(totals.compactions).toBeGreaterThan(0);
    expect(totals.walSegmentsDeleted).toBeGreaterThan(0);
    expect(totals.crashesDuringFlush).toBeGreaterThan(0);
    expect(totals.crashesDuringCompaction).toBeGreaterThan(0);
    expect(walStartSegment).toBeGreaterThan(1);
  }, 720_000);

  it('power-loss mode with the smallest memory budget: power losses during flushes and compactions lose nothing', async () => {
    // A kill keeps the page cache; a power loss (drop-unsynced, random-subset, torn-last-write)
    // does not, so a flush's run, its manifest edit and the WAL segments it deletes are checked
    // against what was really synced. Standalone, seeds 7-10 (10 cycles each): 5-8 of 10 power
    // losses during a flush, 2-6 during a compaction, 17-45 compactions finished. Up to four
    // rounds, each with the next seed, until every count is above 0: on a loaded machine (the CI
    // pre-check of e7f5dd1) two rounds met no power loss during a compaction (0 of 20; 457
    // compactions finished), which says nothing of the store but left that case unexercised.
    const directory = `${temporaryDirectory('ladybug-crash-power-budget-')}/store`;
    const cycles = 10;
    const totals = { flushes: 0, compactions: 0, crashesDuringFlush: 0, crashesDuringCompaction: 0 };
    for (let round = 1; round <= 4; round += 1) {
      const summary = await runCrashTest({
        cycles, seed: 20261202 + round - 1, mode: 'power-loss', killAfterMsMin: 50, killAfterMsMax: 1500, workerPath, directory,
        memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, segmentSizeBytes: HARNESS_SEGMENT_BYTES_SMALL,
      });
      expectClean(summary);
      expect(summary.cycles).toBe(cycles);
      totals.flushes += summary.workerFlushes;
      totals.compactions += summary.workerCompactions;
      totals.crashesDuringFlush += summary.crashesDuringFlush;
      totals.crashesDuringCompaction += summary.crashesDuringCompaction;
      if (Object.values(totals).every((count) => count > 0)) break;
    }
    console.log(`power loss, smallest budget, workers' totals: ${JSON.stringify(totals)}`);
    expect(totals.flushes).toBeGreaterThan(0);
    expect(totals.compactions).toBeGreaterThan(0);
    expect(totals.crashesDuringFlush).toBeGreaterThan(0);
    expect(totals.crashesDuringCompaction).toBeGreaterThan(0);
  }, 480_000);
});

describe('crash harness verifier', () => {
  const put = (writeId: string, key: string, payloadBytes = 10): Intent => ({ writeId, writes: [{ kind: 'data', key, payloadBytes }] });

  async function storeWith(applied: Array<{ intent: Intent; keys?: string[] }>) {
    const store = await openStore(temporaryDirectory());
    const versions: number[] = [];
    for (const { intent, keys } of applied) {
      const writes = intent.writes.filter((write) => keys === undefined || keys.includes(write.key));
      const result = await store.batch(writes.map((write) => ({ type: 'put' as const, key: write.key, value: valueOf(intent.writeId, write) })));
      versions.push(result.version);
    }
    return { store, versions };
  }

  it('reports an acknowledged commit that is missing as lost', async () => {
    const model = new CrashModel(allHarnessKeys());
    const { store, versions } = await storeWith([{ intent: put('a', 'data/w0/k000') }]);
    model.apply({ type: 'intent', intent: put('a', 'data/w0/k000') });
    model.apply({ type: 'ack', ack: { writeId: 'a', version: versions[0]! } });
    model.apply({ type: 'intent', intent: put('b', 'data/w0/k001') });
    model.apply({ type: 'ack', ack: { writeId: 'b', version: versions[0]! + 1 } });
    const verdict = await verifyRecoveredStore(store, model);
    expect(verdict.problems.map((problem) => problem.kind)).toEqual(['lost']);
    expect(verdict.problems[0]!.message).toContain('b (acknowledged');
    await store.close();
  });

  it('reports a half-applied batch as torn, acknowledged or in flight', async () => {
    const batch = (writeId: string, first: string, second: string): Intent => ({
      writeId, writes: [{ kind: 'account', key: first, balance: 1 }, { kind: 'account', key: second, balance: 2 }],
    });
    const acknowledged = batch('t1', 'bank/a00', 'bank/a01');
    const inFlight = batch('t2', 'bank/a02', 'bank/a03');
    const { store, versions } = await storeWith([{ intent: acknowledged, keys: ['bank/a00'] }, { intent: inFlight, keys: ['bank/a03'] }]);
    const model = new CrashModel(allHarnessKeys());
    model.apply({ type: 'intent', intent: acknowledged });
    model.apply({ type: 'ack', ack: { writeId: 't1', version: versions[0]! } });
    model.apply({ type: 'intent', intent: inFlight });
    const verdict = await verifyRecoveredStore(store, model);
    expect(verdict.problems.filter((problem) => problem.kind === 'torn')).toHaveLength(2);
    await store.close();
  });

  it('reports a value that no announced commit wrote, and accepts a whole in-flight commit', async () => {
    const { store } = await storeWith([{ intent: put('ghost', 'data/w1/k000') }, { intent: put('flying', 'data/w1/k001') }]);
    const model = new CrashModel(allHarnessKeys());
    model.apply({ type: 'intent', intent: put('flying', 'data/w1/k001') });
    const verdict = await verifyRecoveredStore(store, model);
    expect(verdict.problems.map((problem) => problem.kind)).toEqual(['inconsistent']);
    expect(verdict.problems[0]!.message).toContain('a value of ghost that no announced commit explains');
    expect(verdict.inFlightApplied).toBe(1);
    await store.close();
  });

  it('reports data present after an earlier recovery that later disappears as lost', async () => {
    const directory = temporaryDirectory();
    const model = new CrashModel(allHarnessKeys());
    const store = await openStore(directory);
    const intent = put('kept', 'data/w2/k000');
    const { version } = await store.put('data/w2/k000', valueOf('kept', intent.writes[0]!));
    model.apply({ type: 'intent', intent });
    model.apply({ type: 'ack', ack: { writeId: 'kept', version } });
    expect((await verifyRecoveredStore(store, model)).problems).toEqual([]);
    await store.close();
    const other = await openStore(temporaryDirectory()); // "recovered" without it
    model.beginCycle();
    const verdict = await verifyRecoveredStore(other, model);
    expect(verdict.problems.map((problem) => problem.kind)).toContain('lost');
    await other.close();
  });
});

describe('kill, then power loss (in-process, fault file system)', () => {
  const options = { segmentSizeBytes: 16 * 1024 };
  const seen = 'x'.repeat(12_000);
  const after = 'y'.repeat(6_000);
  /** Long strings shown as "x*12000", so a failure prints a line, not 12 KB. */
  const shown = (value: unknown) => (typeof value === 'string' ? `${value[0]}*${value.length}` : value);

  /**
   * A kill while a group's fdatasync is in flight leaves its record in the page
   * cache only. Recovery replays it (readers see it), so it must make it durable
   * before anything is written after it: otherwise, when the next commit rotates to
   * a new segment, that record is never fsynced, and a power loss loses a commit
   * readers already saw under newer acknowledged ones, or tears it, and a torn
   * record followed by a later segment with data makes the store refuse to open
   * (CorruptionError). At commit 17ea147 both cases failed.
   */
  it.each([
    ['drop-unsynced', 11], // today: the reopen succeeds without 'seen'
    ['random-subset', 7], // today: 'seen' is torn under a later segment with data: CorruptionError
  ] as const)('%s: a commit seen after recovering from a kill survives a later power loss (seed %d)', async (crashMode, seed) => {
    const faults = new FaultFileSystem(seed);
    const hanging = new HangingSyncFileSystem(faults);
    const killed = await openStore('/store', { ...options, fileSystem: hanging });
    await killed.put('first', 'durable');
    hanging.hang = true;
    void killed.put('seen', seen); // written, its fdatasync never returns: killed mid-sync
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    killed[abandonStore]();

    const recovered = await openStore('/store', { ...options, fileSystem: faults });
    expect(shown(await recovered.get('seen'))).toBe(shown(seen)); // a reader sees it
    const seenVersion = recovered.version;
    const afterVersion = (await recovered.put('after', after)).version; // does not fit: rotates to segment 2
    expect(recovered.stats().walSegment).toBe(2);
    recovered[abandonStore]();

    const rebooted = faults.crash(crashMode);
    const reopened = await openStore('/store', { ...options, fileSystem: rebooted });
    expect(shown(await reopened.get('after'))).toBe(shown(after));
    expect(reopened.version).toBe(afterVersion);
    expect(shown(await reopened.get('seen', { asOf: seenVersion }))).toBe(shown(seen));
    await reopened.close();
  });
});
