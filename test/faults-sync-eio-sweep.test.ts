/**
 * Fault review (durability under failed syncs): a store-level workload that takes
 * every path that makes files durable outside the commit path: flushes of sealed
 * memtables (run written, manifest edit, WAL segments deleted), checkpoints, a full
 * compaction into a packed cold run with a retention floor raised beside it, a
 * backup (runs linked or copied, checked, manifest, BACKUP.json), more writes and a
 * close with a checkpoint. Each datasync, sync and directory sync of the workload in
 * turn fails once with EIO (the nth call of its kind, for every n the workload
 * reaches); the workload goes on as an application would (each step's error caught),
 * then the machine loses power (unsynced data and entries dropped):
 * - the store opens, every acknowledged put reads back exact (a put that was
 *   refused may be there or not), the retention floor is at most the one asked for
 *   (a raise is capped at the last checkpoint's version);
 * - runs/ lists exactly the manifest's runs, no temporary file is left;
 * - a backup that resolved verifies and restores to exactly the data acknowledged
 *   before it (every key at or below its version).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { FaultFileSystem, type CrashMode, type FaultOperation } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

const STORE = '/db';
const BACKUP = '/backup';
const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024, checkpointOnClose: true } as const;
const KEYS = 60;
const keyOf = (index: number) => `k-${String(index).padStart(3, '0')}`;
const valueOf = (index: number, round: number) => ({ index, round, text: `round ${round} of ${index} `.padEnd(200 + (index % 17) * 11, '.') });

/** What the workload did: per key, the acknowledged value and whether a later put was refused. */
interface Outcome {
  acked: Map<string, unknown>;
  uncertain: Map<string, unknown[]>;
  backup: { version: number; data: Map<string, unknown>; uncertain: Map<string, unknown[]> } | undefined;
  floors: number[];
  compacted: boolean;
  errors: string[];
}

async function workload(fileSystem: FaultFileSystem, link: boolean): Promise<Outcome> {
  const outcome: Outcome = { acked: new Map(), uncertain: new Map(), backup: undefined, floors: [0], compacted: false, errors: [] };
  let store: Store;
  try {
    store = await openStore(STORE, { fileSystem, ...OPTIONS });
  } catch (error) {
    outcome.errors.push(`open: ${String(error)}`);
    return outcome;
  }
  const step = async (name: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      outcome.errors.push(`${name}: ${String((error as { code?: string }).code)} ${String(error)}`);
    }
  };
  const put = async (index: number, round: number) => {
    const key = keyOf(index);
    const value = valueOf(index, round);
    try {
      await store.put(key, value);
      outcome.acked.set(key, value);
      outcome.uncertain.delete(key);
    } catch (error) {
      outcome.uncertain.set(key, [...(outcome.uncertain.get(key) ?? []), value]);
      if (outcome.errors.length < 40) outcome.errors.push(`put ${key}: ${String((error as { code?: string }).code)}`);
    }
  };
  for (let round = 0; round < 3; round++) {
    for (let index = round; index < KEYS; index += 1 + round) await put(index, round);
    await step(`checkpoint ${round}`, () => store.checkpoint());
  }
  // A floor raised by the compaction that merges every run into one packed cold run.
  const floor = store.version - 5;
  outcome.floors.push(floor);
  await step('compact', async () => {
    const result = await store.compact({ retainFrom: floor });
    outcome.compacted = result.outcome === 'compacted' && result.retentionFloor === floor;
  });
  for (let index = 0; index < KEYS; index += 4) await put(index, 3);
  const beforeBackup = { data: new Map(outcome.acked), uncertain: new Map(outcome.uncertain) };
  await step('backup', async () => {
    const result = await store.backup(BACKUP, { link });
    outcome.backup = { version: result.version, ...beforeBackup };
  });
  for (let index = 1; index < KEYS; index += 5) await put(index, 4);
  await step('close', () => store.close());
  store[abandonStore]();
  return outcome;
}

function matches(got: unknown, acked: unknown, uncertain: unknown[] | undefined): boolean {
  const candidates = [acked, ...(uncertain ?? [])];
  return candidates.some((candidate) => JSON.stringify(candidate) === JSON.stringify(got));
}

async function problemsAfterCrash(fileSystem: FaultFileSystem, outcome: Outcome): Promise<string[]> {
  const problems: string[] = [];
  let store: Store;
  try {
    store = await openStore(STORE, { fileSystem, ...OPTIONS });
  } catch (error) {
    return [`reopen failed: ${String((error as { code?: string }).code)} ${String(error)}`];
  }
  try {
    const hash = await loadHash64();
    const manifest = await Manifest.inspect(fileSystem, STORE, hash);
    const listed = manifest.state.runs.map((run) => run.fileName).sort();
    const files = fileSystem.listPaths().filter((path) => path.startsWith(`${STORE}/runs/`)).map((path) => path.slice(`${STORE}/runs/`.length)).sort();
    if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`runs/ holds ${files.join(',')}, the manifest lists ${listed.join(',')}`);
    const temporary = fileSystem.listPaths().filter((path) => path.startsWith(`${STORE}/`) && path.endsWith('.tmp'));
    if (temporary.length > 0) problems.push(`temporary files left: ${temporary.join(',')}`);
    // The raise is capped at the last checkpoint's version: any floor from 0 to the one asked for.
    const floor = manifest.state.retentionFloor ?? 0;
    if (floor < 0 || floor > Math.max(...outcome.floors)) problems.push(`retention floor ${floor}, asked for ${outcome.floors.join(', ')}`);
    for (let index = 0; index < KEYS; index++) {
      const key = keyOf(index);
      const got = await store.get(key);
      if (!matches(got, outcome.acked.get(key), outcome.uncertain.get(key))) {
        problems.push(`${key}: ${JSON.stringify(got)?.slice(0, 40)} instead of ${JSON.stringify(outcome.acked.get(key))?.slice(0, 40)}`);
      }
    }
  } finally {
    await store.close().catch((error: unknown) => problems.push(`close after reopen: ${String(error)}`));
  }
  if (outcome.backup !== undefined) {
    const report = await verifyBackup(fileSystem, BACKUP);
    if (!report.ok) return [...problems, `resolved backup does not verify: ${JSON.stringify(report.problems)}`];
    await restoreBackup(fileSystem, BACKUP, '/restored');
    const restored = await openStore('/restored', { fileSystem });
    try {
      if (restored.version !== outcome.backup.version) problems.push(`restored version ${restored.version}, backup said ${outcome.backup.version}`);
      for (let index = 0; index < KEYS; index++) {
        const key = keyOf(index);
        const got = await restored.get(key);
        if (!matches(got, outcome.backup.data.get(key), outcome.backup.uncertain.get(key))) problems.push(`restored ${key}: ${JSON.stringify(got)?.slice(0, 40)}`);
      }
    } finally {
      await restored.close();
    }
  }
  return problems;
}

const SYNC_OPERATIONS: readonly FaultOperation[] = ['datasync', 'sync', 'syncDirectory'];

describe('the workload without a fault', () => {
  it('takes every step: flushes, a compaction raising the floor, a backup, a close', async () => {
    for (const link of [true, false]) {
      const fileSystem = new FaultFileSystem(1);
      const outcome = await workload(fileSystem, link);
      expect(outcome.errors).toEqual([]);
      expect(outcome.compacted).toBe(true);
      expect(outcome.backup).toBeDefined();
      const report = await verifyBackup(fileSystem, BACKUP);
      expect(report.files).toBeGreaterThan(2);
      expect(await problemsAfterCrash(fileSystem.crash('drop-unsynced'), outcome)).toEqual([]);
    }
  }, 60_000);
});

describe('a failed sync anywhere in a flush / compaction / backup workload, then a power loss', () => {
  for (const link of [true, false]) {
    for (const operation of SYNC_OPERATIONS) {
      it(`${operation} fails once with EIO (backup ${link ? 'linked' : 'copied'}): acknowledged data exact, store opens, no orphan, backup exact`, async () => {
        const problems: string[] = [];
        let triggered = 0;
        for (let nth = 1; nth < 2000 && problems.length < 8; nth++) {
          const fileSystem = new FaultFileSystem(nth);
          const fault = fileSystem.injectFault({ operation, error: 'EIO', nth });
          const outcome = await workload(fileSystem, link);
          if (fault.triggeredCount === 0) break;
          triggered++;
          const mode: CrashMode = nth % 2 === 0 ? 'drop-unsynced' : 'random-subset';
          const rebooted = fileSystem.crash(mode);
          for (const problem of await problemsAfterCrash(rebooted, outcome)) problems.push(`${operation} #${nth} (${mode}; errors: ${outcome.errors.slice(0, 2).join(' | ')}): ${problem}`);
        }
        expect(problems).toEqual([]);
        expect(triggered).toBeGreaterThan(3);
      }, 600_000);
    }
  }
});
