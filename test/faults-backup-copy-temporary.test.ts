/**
 * Fault review of the backup's copies (durable-files.ts copyFile): a copy creates
 * `<run>.tmp` before it opens the store's run, so a run that is gone when its copy
 * starts (ENOENT: compaction replaced it, and takeBackup retries from the newer state)
 * left the temporary behind. The backup that then finished held an orphan no file
 * list names, and a retry that copied a run of that name again (here: the same state,
 * the ENOENT a transient one) failed with EEXIST on the temporary (IoError).
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup } from '../src/backup/restore-backup.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

describe('a backup copy whose source run is gone when the copy starts', () => {
  it('leaves no temporary file: the retry copies the run, the backup holds only its files and restores exactly', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 256 * 1024 });
    const expected = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 50; index++) {
        await store.put(`k${round}-${index}`, `value ${round} ${index}`.padEnd(200, '.'));
        expected.set(`k${round}-${index}`, `value ${round} ${index}`.padEnd(200, '.'));
      }
      await store.checkpoint();
    }
    const runs = (await fileSystem.readdir('/db/runs')).sort();
    expect(runs.length).toBe(3);
    const fault = fileSystem.injectFault({ operation: 'open', path: `/db/runs/${runs[1]!}`, error: 'ENOENT' });
    const result = await store.backup('/backup', { link: false });
    await store.close();
    expect(fault.triggeredCount).toBe(1);
    expect(result.copiedFiles).toBe(result.files);
    const backupFiles = fileSystem.listPaths().filter((path) => path.startsWith('/backup/'));
    expect(backupFiles.filter((path) => path.endsWith('.tmp'))).toEqual([]);
    expect(backupFiles.filter((path) => path.startsWith('/backup/runs/')).length).toBe(3);
    await restoreBackup(fileSystem, '/backup', '/restored');
    const restored = await openStore('/restored', { fileSystem });
    for (const [key, value] of expected) expect(await restored.get(key)).toBe(value);
    await restored.close();
  });
});
