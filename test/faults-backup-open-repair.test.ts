/**
 * Fault review of the backup's run check (take-backup.ts checkRunCopy) on a packed cold
 * run (a compaction's output): one flipped bit at byte 300 of each page of the store's
 * run, the backup linked and copied. checkRunCopy took a new checksum of the run only
 * when the scrub reported a repair; but RunReader.open reads blocks itself (the packed
 * run's top-level index) and rebuilds a damaged one in place before the scrub begins,
 * with no finding. The backup then resolved with BACKUP.json certifying the bytes as
 * first copied (the flip) while the file held the rebuilt page: verify found it damaged
 * at once and restore refused it ('bytes outside every checked block'). Every backup
 * that resolves must verify ok and restore exactly.
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';

const KEYS = 300;
const keyOf = (index: number) => `k${String(index).padStart(4, '0')}`;
const valueOf = (index: number, round: number) => ({ round, index, text: 'q'.repeat(50 + (index % 30)) });

/** Four rounds checkpointed, then compact(): one packed cold run. */
async function coldStore(): Promise<{ fileSystem: FaultFileSystem; runPath: string; sizeBytes: number }> {
  const fileSystem = new FaultFileSystem(3);
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 256 * 1024 });
  for (let round = 0; round < 4; round++) {
    for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index, round));
    await store.checkpoint();
  }
  expect((await store.compact()).outcome).toBe('compacted');
  await store.close();
  const runs = await fileSystem.readdir('/db/runs');
  expect(runs).toHaveLength(1);
  const runPath = `/db/runs/${runs[0]!}`;
  return { fileSystem, runPath, sizeBytes: (await fileSystem.readFile(runPath)).length };
}

describe('a backup of a cold run damaged at any page', () => {
  it('resolves only when it verifies and restores exactly (linked and copied), else refuses with CorruptionError', async () => {
    const problems: string[] = [];
    let resolved = 0;
    for (const link of [false, true]) {
      const { sizeBytes } = await coldStore();
      for (let page = 0; page * RUN_PAGE_BYTES + 300 < sizeBytes; page++) {
        const { fileSystem, runPath } = await coldStore();
        fileSystem.flipBit(runPath, page * RUN_PAGE_BYTES + 300, 5);
        const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 256 * 1024 });
        const outcome = await store.backup('/backup', { link }).then(() => undefined, (error: unknown) => error);
        await store.close();
        if (outcome !== undefined) {
          if (!(outcome instanceof CorruptionError)) problems.push(`page ${page} link ${link}: ${String(outcome)}`);
          continue;
        }
        resolved++;
        const report = await verifyBackup(fileSystem, '/backup');
        if (!report.ok) {
          problems.push(`page ${page} link ${link}: resolved, but verify: ${report.problems.map((problem) => problem.reason).join('; ').slice(0, 200)}`);
          continue;
        }
        await restoreBackup(fileSystem, '/backup', '/restored');
        const restored = await openStore('/restored', { fileSystem });
        for (let index = 0; index < KEYS; index++) {
          if (JSON.stringify(await restored.get(keyOf(index))) !== JSON.stringify(valueOf(index, 3))) problems.push(`page ${page} link ${link}: ${keyOf(index)} differs`);
        }
        await restored.close();
      }
    }
    expect(problems).toEqual([]);
    expect(resolved).toBeGreaterThan(10);
  }, 300_000);
});
