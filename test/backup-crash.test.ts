/**
 * A crash during store.backup() (FaultFileSystem: crash after k operations, at about
 * 60 values of k spread over an uninterrupted backup's count, power loss keeping a
 * random subset of unsynced writes and entries) never leaves a backup that looks
 * complete but is not: a backup that does not verify is refused by restore
 * (BackupError) and writes nothing; one that verifies (every finished one, and an
 * unfinished one whose last step, BACKUP.json's directory fsync, was all that was
 * missing) restores to exactly the data written before it.
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { BackupError } from '../src/errors.js';
import { FaultFileSystem, isSimulatedCrash } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { scanAll } from './workload.js';

const STORE_DIRECTORY = '/db';
const BACKUP_DIRECTORY = '/backup';
const RESTORED_DIRECTORY = '/restored';
const KEYS = 300;
/** A small budget so the data lands in several runs before the backup. */
const OPTIONS = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: false } as const;

function expectedData(): Map<string, unknown> {
  return new Map(Array.from({ length: KEYS }, (_, index) => [`key-${String(index).padStart(4, '0')}`, `value-${index}-${'y'.repeat(300)}`]));
}

async function prelude(seed: number): Promise<{ fileSystem: FaultFileSystem; store: Store }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(STORE_DIRECTORY, { fileSystem, ...OPTIONS });
  let index = 0;
  for (const [key, value] of expectedData()) {
    await store.put(key, value);
    if (++index % 100 === 0) await store.checkpoint();
  }
  return { fileSystem, store };
}

type Outcome = 'refused' | 'restored';

/** Crash after `k` operations of the backup; returns what the rebooted machine's backup amounts to. */
async function crashDuringBackup(k: number, seed: number): Promise<{ outcome: Outcome; finished: boolean }> {
  const { fileSystem, store } = await prelude(seed);
  fileSystem.crashAfterOperations(k);
  const finished = await store.backup(BACKUP_DIRECTORY).then(() => true, (error: unknown) => {
    if (!isSimulatedCrash(error) && !isSimulatedCrash((error as { cause?: unknown }).cause)) throw error;
    return false;
  });
  store[abandonStore]();
  const rebooted = fileSystem.crash('random-subset');
  const report = await verifyBackup(rebooted, BACKUP_DIRECTORY);
  if (!report.ok) {
    const error = await restoreBackup(rebooted, BACKUP_DIRECTORY, RESTORED_DIRECTORY).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackupError);
    expect(await rebooted.exists(RESTORED_DIRECTORY)).toBe(false);
    return { outcome: 'refused', finished };
  }
  await restoreBackup(rebooted, BACKUP_DIRECTORY, RESTORED_DIRECTORY);
  const restored = await openStore(RESTORED_DIRECTORY, { fileSystem: rebooted });
  try {
    expect(await scanAll(restored)).toEqual(expectedData());
  } finally {
    await restored.close();
  }
  return { outcome: 'restored', finished };
}

describe('a crash during backup', () => {
  it('leaves no backup that looks complete unless it restores exactly', async () => {
    // How many operations an uninterrupted backup makes.
    const { fileSystem, store } = await prelude(1);
    const before = fileSystem.operationCount;
    await store.backup(BACKUP_DIRECTORY);
    const operations = fileSystem.operationCount - before;
    await store.close();
    expect(operations).toBeGreaterThan(20);

    const outcomes: Outcome[] = [];
    const step = Math.max(1, Math.floor(operations / 60));
    for (let k = 0; k <= operations; k += step) {
      const { outcome, finished } = await crashDuringBackup(k, 100 + k);
      // A backup that had not finished never restores; one that finished (durable) always does.
      // A backup that finished (durable) always restores. One that had not finished is
      // refused, or restores exactly (crashDuringBackup compared every key): a crash
      // at BACKUP.json's final directory fsync, after its rename, may keep the rename.
      if (finished) expect({ k, outcome }).toEqual({ k, outcome: 'restored' });
      outcomes.push(outcome);
    }
    expect(outcomes).toContain('refused');
    const last = await crashDuringBackup(operations, 7);
    expect(last).toEqual({ outcome: 'restored', finished: true });
  }, 120_000);
});
