/**
 * A restore that fails leaves its target as it found it. Before, a restore that failed
 * after making the target (ENOSPC writing a manifest copy, a failed fdatasync of a copied
 * run, an abort) left target/ with runs/, manifest/, wal/ and the runs copied so far; the
 * retry, once the disk had room, was refused as 'target-not-empty' until the user deleted
 * it by hand. Now it removes what it made (src/backup/backup-undo.ts, its manifest/ first)
 * and the retry restores; a target that held anything is refused and untouched.
 */
import { describe, expect, it } from 'vitest';
import { BackupError, DiskFullError, IoError } from '../src/errors.js';
import { FaultFileSystem, type FaultInjection } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup } from '../src/index.js';

const KEYS = 200;

async function backedUp(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(`k${String(index).padStart(4, '0')}`, { index, text: 'y'.repeat(60) });
  await store.checkpoint();
  for (let index = 0; index < 20; index++) await store.put(`m${index}`, index);
  await store.backup('/backup');
  await store.close();
  await fileSystem.mkdir('/restores/empty');
  return fileSystem;
}

/** Every path under `prefix`, directories included. */
async function tree(fileSystem: FaultFileSystem, prefix: string): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    for (const name of (await fileSystem.readdir(directory)).sort()) {
      paths.push(`${directory}/${name}`);
      if (!fileSystem.listPaths().includes(`${directory}/${name}`)) await walk(`${directory}/${name}`);
    }
  };
  await walk(prefix);
  return paths;
}

const FAULTS: { name: string; fault: (target: string) => FaultInjection; expected: new (...args: never[]) => Error }[] = [
  { name: 'ENOSPC writing a manifest copy', fault: (target) => ({ operation: 'write', error: 'ENOSPC', path: new RegExp(`^${target}/manifest/`) }), expected: DiskFullError },
  { name: "a copied run's fdatasync fails", fault: (target) => ({ operation: 'datasync', error: 'EIO', path: new RegExp(`^${target}/runs/`), nth: 2 }), expected: IoError },
  { name: "the manifest directory's fsync fails", fault: (target) => ({ operation: 'syncDirectory', error: 'EIO', path: `${target}/manifest` }), expected: IoError },
];

describe('a restore that fails', () => {
  for (const [index, { name, fault, expected }] of FAULTS.entries()) {
    it(`${name}: removes what it made, into a new path and into an empty directory; the retry restores`, async () => {
      const fileSystem = await backedUp(20 + index);
      for (const target of ['/restores/new/deep/target', '/restores/empty']) {
        const injected = fileSystem.injectFault(fault(target));
        await expect(restoreBackup('/backup', target, { fileSystem })).rejects.toBeInstanceOf(expected);
        expect(injected.triggeredCount).toBe(1);
        injected.remove();
        expect(await tree(fileSystem, '/restores'), target).toEqual(['/restores/empty']);
        const restored = await restoreBackup('/backup', target, { fileSystem });
        expect(restored.files).toBe(4);
        const store = await openStore(target, { fileSystem });
        expect(await store.get('k0199')).toEqual({ index: 199, text: 'y'.repeat(60) });
        expect(await store.get('m19')).toBe(19);
        await store.close();
        for (const path of fileSystem.listPaths().filter((candidate) => candidate.startsWith(`${target}/`))) await fileSystem.unlink(path);
        for (const path of (await tree(fileSystem, '/restores')).reverse()) if (path !== '/restores/empty') await fileSystem.removeDirectory(path);
      }
    });
  }

  it('an abort after the first file: nothing left; a target holding anything is refused and untouched', async () => {
    const fileSystem = await backedUp(30);
    const controller = new AbortController();
    await expect(restoreBackup('/backup', '/restores/new', { fileSystem, signal: controller.signal, onProgress: () => controller.abort() })).rejects.toThrow();
    expect(await tree(fileSystem, '/restores')).toEqual(['/restores/empty']);

    await fileSystem.mkdir('/restores/held/runs');
    const refused = await restoreBackup('/backup', '/restores/held', { fileSystem }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BackupError);
    expect(await tree(fileSystem, '/restores')).toEqual(['/restores/empty', '/restores/held', '/restores/held/runs']);
  });
});
