/**
 * Crash at every file-system operation of a manifest workload (creation, appended
 * edits, full rewrites at a small bound), in every crash mode of the fault file
 * system. After reopening, the state is the one after the last acknowledged apply()
 * or after the one in flight, nothing else; only the two copies of one generation
 * remain; and the manifest keeps working. Also: a crash at every operation of an open
 * that repairs a damaged copy.
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Manifest } from '../src/manifest/manifest.js';
import { applyEdit, type ManifestEdit, type ManifestState } from '../src/manifest/manifest-state.js';
import { MANIFEST_DIRECTORY, openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const EDIT_COUNT = 10;
const EDITS_MAX = 3;
const INITIAL: Partial<ManifestState> = { versionHighWater: 7, flushedVersion: 7 };

interface Outcome {
  /** State after the last apply() (or the creation) that resolved; undefined before creation resolved. */
  acknowledged: ManifestState | undefined;
  /** State the apply() in flight at the crash would make, if one was. */
  inFlight: ManifestState | undefined;
}

function editNumber(index: number, manifest: Manifest): ManifestEdit {
  if (index % 4 === 3) return { removeRunIds: [manifest.state.runs[0]?.runId ?? -1], walStartSegment: index };
  return { addRuns: [runDescriptor(manifest.allocateRunId())], flushedVersion: 10 * index + 10, versionHighWater: 10 * index + 15 };
}

async function freshFileSystem(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(STORE_DIRECTORY);
  await fileSystem.syncDirectory('/');
  return fileSystem;
}

async function runWorkload(fileSystem: FaultFileSystem): Promise<Outcome> {
  const outcome: Outcome = { acknowledged: undefined, inFlight: undefined };
  try {
    const manifest = await openManifest(fileSystem, { initial: INITIAL, editsMax: EDITS_MAX });
    outcome.acknowledged = plainState(manifest.state);
    for (let index = 0; index < EDIT_COUNT; index += 1) {
      const edit = editNumber(index, manifest);
      const planned = applyEdit(outcome.acknowledged, { ...edit, nextRunId: manifest.state.nextRunId });
      if (typeof planned === 'string') throw new Error(`workload edit ${index} does not apply: ${planned}`);
      outcome.inFlight = planned;
      await manifest.apply(edit);
      outcome.acknowledged = plainState(manifest.state);
      outcome.inFlight = undefined;
    }
  } catch {
    // the simulated crash: the process is gone
  }
  return outcome;
}

const same = (left: ManifestState | undefined, right: ManifestState | undefined): boolean =>
  left !== undefined && right !== undefined && JSON.stringify(left) === JSON.stringify(right);

async function checkReopen(rebooted: FaultFileSystem, outcome: Outcome, label: string): Promise<string[]> {
  let manifest: Manifest;
  try {
    manifest = await openManifest(rebooted, { create: false, editsMax: EDITS_MAX });
  } catch (error) {
    if (outcome.acknowledged === undefined && String(error).includes('manifest missing')) return [];
    return [`${label}: reopen failed: ${String(error)}`];
  }
  const problems: string[] = [];
  const state = plainState(manifest.state);
  const initial = applyEdit({ runs: [], nextRunId: 1, flushedVersion: 0, walStartSegment: 1, versionHighWater: 0 }, INITIAL);
  const allowed = outcome.acknowledged === undefined ? [typeof initial === 'string' ? undefined : initial] : [outcome.acknowledged, outcome.inFlight];
  if (!allowed.some((candidate) => same(state, candidate))) problems.push(`${label}: state is neither acknowledged nor in flight`);
  const names = (await rebooted.readdir(MANIFEST_DIRECTORY)).sort();
  if (names.length !== 2 || names[0]?.slice(0, -2) !== names[1]?.slice(0, -2)) problems.push(`${label}: files left ${names.join(',')}`);
  try {
    await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())] });
    const after = plainState(manifest.state);
    await manifest.close();
    const again = await openManifest(rebooted.crash('drop-unsynced'), { create: false, editsMax: EDITS_MAX });
    if (!same(plainState(again.state), after)) problems.push(`${label}: edit after recovery lost`);
  } catch (error) {
    problems.push(`${label}: manifest unusable after recovery: ${String(error)}`);
  }
  return problems;
}

describe('manifest: crash at every file-system operation', () => {
  it('reopens to the acknowledged or the in-flight state, with no orphans, in every crash mode', async () => {
    const counting = await freshFileSystem(1);
    const before = counting.operationCount;
    const complete = await runWorkload(counting);
    expect(complete.acknowledged?.runs.length).toBeGreaterThan(3);
    const operationCount = counting.operationCount - before;
    expect(operationCount).toBeGreaterThan(60);
    const problems: string[] = [];
    for (let crashAfter = 0; crashAfter <= operationCount; crashAfter += 1) {
      for (const [modeIndex, mode] of CRASH_MODES.entries()) {
        const seeds = mode === 'random-subset' || mode === 'torn-last-write' ? [11, 12, 13] : [11];
        for (const seed of seeds) {
          const fileSystem = await freshFileSystem(seed * 31 + modeIndex);
          fileSystem.crashAfterOperations(crashAfter);
          const outcome = await runWorkload(fileSystem);
          problems.push(...(await checkReopen(fileSystem.crash(mode), outcome, `op ${crashAfter} ${mode} seed ${seed}`)));
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('survives a crash at every operation of an open that repairs a damaged copy', async () => {
    const build = async (): Promise<{ fileSystem: FaultFileSystem; expected: ManifestState }> => {
      const fileSystem = await freshFileSystem(2);
      const outcome = await runWorkload(fileSystem);
      const path = `${MANIFEST_DIRECTORY}/${(await fileSystem.readdir(MANIFEST_DIRECTORY)).sort()[0]}`;
      fileSystem.flipBit(path, 30, 3);
      return { fileSystem, expected: outcome.acknowledged as ManifestState };
    };
    const counting = await build();
    const before = counting.fileSystem.operationCount;
    const repaired = await openManifest(counting.fileSystem, { create: false, editsMax: EDITS_MAX });
    expect(repaired.recovery.repaired.length).toBeGreaterThan(0);
    const operationCount = counting.fileSystem.operationCount - before;
    const problems: string[] = [];
    for (let crashAfter = 0; crashAfter < operationCount; crashAfter += 1) {
      for (const mode of CRASH_MODES) {
        const { fileSystem, expected } = await build();
        fileSystem.crashAfterOperations(crashAfter);
        await openManifest(fileSystem, { create: false, editsMax: EDITS_MAX }).catch(() => undefined);
        problems.push(...(await checkReopen(fileSystem.crash(mode), { acknowledged: expected, inFlight: undefined }, `repair op ${crashAfter} ${mode}`)));
      }
    }
    expect(problems).toEqual([]);
  });
});
