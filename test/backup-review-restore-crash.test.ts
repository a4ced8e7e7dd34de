/**
 * A restore cut short (a kill or a power loss at any file-system operation) leaves no
 * directory that opens as a store with less than the backup holds. The restored runs come
 * first and the manifest naming them last; a store with runs but no manifest is refused
 * at open, but one cut short before its first run was in place (runs/ empty, or holding
 * only a run's temporary file) opened as a new, empty store: every key of the backup
 * silently missing. The target is now marked BACKUP-INCOMPLETE until the restore is
 * durable, so such a directory is refused at open (BackupError 'not-a-store') until it is
 * deleted and the restore run again.
 */
import { describe, expect, it } from 'vitest';
import { isSimulatedCrash } from '../src/fs/fault/fault-controller.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup } from '../src/index.js';

const KEYS = 60;

function expectedEntries(): [string, unknown][] {
  return Array.from({ length: KEYS }, (_, index) => [`key-${String(index).padStart(4, '0')}`, `value-${index}-${'r'.repeat(200)}`]);
}

async function backedUp(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 256 * 1024 });
  for (const [index, [key, value]] of expectedEntries().entries()) {
    await store.put(key, value);
    if (index % 20 === 19) await store.checkpoint();
  }
  await store.backup('/backup');
  await store.close();
  return fileSystem;
}

/** What opening the target after the crash amounts to: refused, missing (or empty), or every key of the backup. */
async function openedAfterCrash(fileSystem: FaultFileSystem): Promise<string> {
  if (!(await fileSystem.exists('/restored'))) return 'missing';
  // Cut right after its mkdir: an empty directory, as before any restore (nothing in it opens as restored).
  if ((await fileSystem.readdir('/restored')).length === 0) return 'missing';
  let store;
  try {
    store = await openStore('/restored', { fileSystem });
  } catch (error) {
    return `refused ${(error as { code?: string }).code ?? String(error)}`;
  }
  try {
    const entries: [string, unknown][] = [];
    for await (const [key, value] of store.scan()) entries.push([String(key), value]);
    const expected = new Map(expectedEntries());
    const same = entries.length === KEYS && entries.every(([key, value]) => expected.get(key) === value);
    return same ? 'complete' : `opened with ${entries.length} of ${KEYS} keys${entries.length === KEYS ? ' (values differ)' : ''}`;
  } finally {
    await store.close();
  }
}

describe('a restore cut short', () => {
  it('never leaves a directory that opens with part of the backup, at any operation (crash modes alternating)', async () => {
    const counting = (await backedUp(5)).crash('drop-unsynced');
    await restoreBackup('/backup', '/restored', { fileSystem: counting });
    const operations = counting.operationCount;
    expect(operations).toBeGreaterThan(20);
    const outcomes = new Map<string, number>();
    for (let k = 0; k <= operations; k++) {
      for (const mode of [k % 2 === 0 ? 'drop-unsynced' : 'random-subset'] as const) {
        const fileSystem = (await backedUp(5)).crash('drop-unsynced');
        fileSystem.crashAfterOperations(k);
        const finished = await restoreBackup('/backup', '/restored', { fileSystem }).then(() => true, (error: unknown) => {
          if (!isSimulatedCrash(error) && !isSimulatedCrash((error as { cause?: unknown }).cause)) throw error;
          return false;
        });
        const outcome = await openedAfterCrash(fileSystem.crash(mode));
        if (finished) expect({ k, mode, outcome }).toEqual({ k, mode, outcome: 'complete' });
        expect(['missing', 'complete'].includes(outcome) || outcome.startsWith('refused'), `k=${k} ${mode}: ${outcome}`).toBe(true);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    expect(outcomes.get('complete')).toBeGreaterThan(0);
    expect(outcomes.get('refused LADYBUG_BACKUP')).toBeGreaterThan(0);
  }, 60_000);
});
