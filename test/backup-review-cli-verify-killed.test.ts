/**
 * `ladybug verify` on the directory a killed backup left. README promises that verify calls
 * it incomplete (and restore refuses it), but the command told a backup from a store by
 * BACKUP.json alone: a backup killed after its runs and manifest were written (before
 * BACKUP.json) looks like a store, so `ladybug verify` printed 'verify: ok' and exited 0,
 * and took the store lock, writing LOCK.000000000001 into the backup. Now a backup marks
 * its target with BACKUP-INCOMPLETE first (durably) and removes the mark once BACKUP.json
 * is durable; verify takes a directory with either for a backup: incomplete, exit 1,
 * nothing written. A finished backup has no mark and verifies ok; a restored store verifies
 * as a store.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_INCOMPLETE_NAME } from '../src/backup/backup-manifest.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, restoreBackup } from '../src/index.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** Holds the first open of BACKUP.json.tmp (a backup's last step) until `release` is called, then fails it: a backup caught where a kill would leave it. */
class HoldsBackupManifest extends ForwardingFileSystem<NodeFileSystem> {
  release: () => void = () => undefined;
  reached: Promise<void>;
  #reached: () => void = () => undefined;
  #held = false;
  constructor() {
    super(new NodeFileSystem());
    this.reached = new Promise((resolve) => { this.#reached = resolve; });
  }
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (path.endsWith('/BACKUP.json.tmp') && !this.#held) {
      this.#held = true;
      this.#reached();
      await new Promise<void>((resolve) => { this.release = resolve; });
      throw Object.assign(new Error(`EIO: open '${path}'`), { code: 'EIO' });
    }
    return super.open(path, mode);
  }
}

describe('ladybug verify of a backup cut short', () => {
  it('says incomplete (exit 1) and writes nothing; a finished backup has no mark and verifies ok; a restored store verifies as a store', async () => {
    const fileSystem: HoldsBackupManifest = new HoldsBackupManifest();
    const directory = temporaryDirectory();
    const store = await openStore(directory, { fileSystem: fileSystem as FileSystem });
    for (let index = 0; index < 200; index++) await store.put(`k${index}`, index);
    const target = join(temporaryDirectory(), 'backup');
    const pending = store.backup(target).catch((error: unknown) => error);
    await fileSystem.reached;

    // What a kill here leaves: runs, manifest, wal/, no BACKUP.json.
    expect(readdirSync(target).sort()).toEqual([BACKUP_INCOMPLETE_NAME, 'manifest', 'runs', 'wal']);
    const before = treeBytes(target);
    for (const json of [false, true]) {
      const result = json ? await ladybug('verify', target, '--json') : await ladybug('verify', target);
      expect(result.code, result.stdout).toBe(1);
      expect(result.stdout).toMatch(/incomplete/);
      if (json) expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, restorable: false });
    }
    expect(readdirSync(target).filter((name) => name.startsWith('LOCK'))).toEqual([]);
    expect(treeBytes(target)).toEqual(before);

    fileSystem.release();
    expect(await pending).toBeInstanceOf(Error);
    expect(existsSync(target)).toBe(false);
    await store.backup(target);
    expect(readdirSync(target).sort()).toEqual(['BACKUP.json', 'manifest', 'runs', 'wal']);
    expect((await ladybug('verify', target)).code).toBe(0);
    await store.close();

    const restored = join(temporaryDirectory(), 'restored');
    await restoreBackup(target, restored);
    const verified = await ladybug('verify', restored);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^verify: ok/);
  }, 60_000);
});
