/**
 * store.backup() (the library) leaves the target as it found it when it fails, as `ladybug
 * backup` did alone before (src/cli/backup-target.ts): it made target/, runs/ and wal/ (and
 * missing parents) first, and a failure after that (a run file missing, a link, write or
 * fsync failing, an abort) left them, so a retry into the same path was refused as
 * 'target-not-empty' once anything was in it, and verify called the leftover 'incomplete'.
 * A failed directory sync after BACKUP.json's rename even left a BACKUP.json that verified
 * ok beside a rejected backup. Now it removes exactly what it created: the directories it
 * made (the first missing ancestor down), or in a target that was an empty directory the
 * entries a backup writes; a target that held anything is refused and never touched.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyBackup } from '../src/backup/verify-backup.js';
import { BackupError, CorruptionError } from '../src/errors.js';
import { FaultFileSystem, type FaultInjection } from '../src/fs/fault-file-system.js';
import { fileSystemError } from '../src/fs/file-system.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function filledStore(fileSystem: FaultFileSystem, directory = '/db'): Promise<Store> {
  const store = await openStore(directory, { fileSystem });
  for (let index = 0; index < 200; index++) await store.put(`k${String(index).padStart(4, '0')}`, { index, text: 'x'.repeat(40) });
  await store.checkpoint();
  for (let index = 0; index < 20; index++) await store.put(`m${index}`, index);
  return store;
}

/** Every path under `prefix` the file system holds, directories included. */
async function tree(fileSystem: FaultFileSystem, prefix: string): Promise<string[]> {
  if (!(await fileSystem.exists(prefix))) return [];
  const paths: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    let names: string[];
    try {
      names = await fileSystem.readdir(directory);
    } catch {
      return; // a file
    }
    for (const name of names.sort()) {
      paths.push(`${directory}/${name}`);
      await walk(`${directory}/${name}`);
    }
  };
  await walk(prefix);
  return paths;
}

/** Each fault, injected before a backup into a new path and an empty directory, fails it. */
const FAULTS: { name: string; fault: (target: string) => FaultInjection }[] = [
  { name: 'a link of a run fails (EIO)', fault: (target) => ({ operation: 'link', error: 'EIO', path: new RegExp(`^${target}/runs/`) }) },
  { name: 'the runs directory fsync fails', fault: (target) => ({ operation: 'syncDirectory', error: 'EIO', path: `${target}/runs` }) },
  { name: 'a manifest copy write finds the disk full', fault: (target) => ({ operation: 'write', error: 'ENOSPC', path: new RegExp(`^${target}/manifest/`) }) },
  { name: "BACKUP.json's temporary datasync fails", fault: (target) => ({ operation: 'datasync', error: 'EIO', path: `${target}/BACKUP.json.tmp` }) },
];

/** Fails the target's fsync once BACKUP.json is renamed into it (the last step of a backup). */
class FailsSyncAfterBackupJson extends FaultFileSystem {
  failing: string | undefined;
  failed = 0;
  override async syncDirectory(dir: string): Promise<void> {
    if (dir === this.failing && this.listPaths().includes(`${dir}/BACKUP.json`)) {
      this.failing = undefined;
      this.failed++;
      throw fileSystemError('EIO', 'fsync', dir);
    }
    return super.syncDirectory(dir);
  }
}

describe('a failed store.backup()', () => {
  for (const { name, fault } of FAULTS) {
    it(`${name}: removes what it made, into a new path and into an empty directory; the retry succeeds`, async () => {
      const fileSystem = new FaultFileSystem(7);
      const store = await filledStore(fileSystem);
      await fileSystem.mkdir('/backups');
      await fileSystem.mkdir('/backups/empty');
      for (const target of ['/backups/new/deep/target', '/backups/empty']) {
        const injected = fileSystem.injectFault(fault(target));
        await expect(store.backup(target, { link: true })).rejects.toThrow();
        expect(injected.triggeredCount, `${target}: the fault fired`).toBe(1);
        injected.remove();
        expect(await tree(fileSystem, '/backups'), `${target}: nothing left`).toEqual(['/backups/empty']);
        const done = await store.backup(target);
        expect(done.files).toBeGreaterThan(1);
        expect((await verifyBackup(fileSystem, target)).ok).toBe(true);
        for (const path of (await tree(fileSystem, '/backups')).reverse()) {
          if (path === '/backups/empty') continue;
          if (fileSystem.listPaths().includes(path)) await fileSystem.unlink(path);
          else await fileSystem.removeDirectory(path);
        }
      }
      await store.close();
    });
  }

  it("the target's fsync after BACKUP.json's rename fails: no BACKUP.json (it verified ok) nor anything else is left", async () => {
    const fileSystem = new FailsSyncAfterBackupJson(9);
    const store = await filledStore(fileSystem);
    await fileSystem.mkdir('/backups/empty');
    for (const target of ['/backups/new/deep/target', '/backups/empty']) {
      fileSystem.failing = target;
      await expect(store.backup(target)).rejects.toThrow(/EIO/);
      expect(await tree(fileSystem, '/backups'), target).toEqual(['/backups/empty']);
    }
    expect(fileSystem.failed).toBe(2);
    await store.backup('/backups/empty');
    expect((await verifyBackup(fileSystem, '/backups/empty')).ok).toBe(true);
    await store.close();
  });

  it('a run file missing (CorruptionError) and an abort: nothing left; a target that held anything is untouched', async () => {
    const fileSystem = new FaultFileSystem(8);
    const store = await filledStore(fileSystem);
    const [run] = (await fileSystem.readdir('/db/runs')).filter((name) => name.endsWith('.run'));
    const runPath = `/db/runs/${run}`;
    const runBytes = await fileSystem.readFile(runPath);
    await fileSystem.unlink(runPath);
    await fileSystem.mkdir('/backups/empty');
    await expect(store.backup('/backups/new/target')).rejects.toBeInstanceOf(CorruptionError);
    await expect(store.backup('/backups/empty')).rejects.toBeInstanceOf(CorruptionError);
    expect(await tree(fileSystem, '/backups')).toEqual(['/backups/empty']);

    const handle = await fileSystem.open(runPath, 'createExclusive');
    await handle.write(runBytes, 0);
    await handle.close();
    const controller = new AbortController();
    const aborted = store.backup('/backups/new/target', { signal: controller.signal, onProgress: () => controller.abort() });
    await expect(aborted).rejects.toThrow();
    expect(await tree(fileSystem, '/backups')).toEqual(['/backups/empty']);

    await fileSystem.mkdir('/backups/held/runs');
    const refused = await store.backup('/backups/held').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as BackupError).reason).toBe('target-not-empty');
    expect(await tree(fileSystem, '/backups')).toEqual(['/backups/empty', '/backups/held', '/backups/held/runs']);
    await store.close();
  });

  it('a parent it made that another process wrote into meanwhile keeps that; the target goes', async () => {
    const fileSystem = new FaultFileSystem(10);
    const store = await filledStore(fileSystem);
    const onProgress = (): void => {
      void fileSystem.mkdir('/backups/new/theirs');
      throw new Error('stop here');
    };
    // onProgress runs after the first run is linked: /backups/new and the target are this backup's by then.
    await expect(store.backup('/backups/new/target', { onProgress })).rejects.toThrow(/stop here/);
    expect(await tree(fileSystem, '/backups')).toEqual(['/backups/new', '/backups/new/theirs']);
    await store.close();
  });

  it('on the real file system: a missing run leaves neither the new target nor an empty target holding anything', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 100; index++) await store.put(`k${index}`, index);
    await store.checkpoint();
    await store.put('after', 1);
    const run = readdirSync(join(directory, 'runs')).find((name) => name.endsWith('.run'));
    rmSync(join(directory, 'runs', run!));
    const parent = temporaryDirectory();
    mkdirSync(join(parent, 'empty'));
    await expect(store.backup(join(parent, 'new', 'target'))).rejects.toBeInstanceOf(CorruptionError);
    await expect(store.backup(join(parent, 'empty'))).rejects.toBeInstanceOf(CorruptionError);
    expect(readdirSync(parent)).toEqual(['empty']);
    expect(readdirSync(join(parent, 'empty'))).toEqual([]);
    await store.close().catch(() => undefined);
  });
});
