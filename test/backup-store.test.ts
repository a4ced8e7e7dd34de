/**
 * store.backup() and restoreBackup() on a real directory: a backup taken under a
 * concurrent write load restores to exactly the state as of its version; a
 * non-empty target is refused; an unfinished backup, or one damaged beyond its runs'
 * parity, is refused at restore and writes nothing.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, CorruptionError, ErrorCode, InvalidOptionError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, restoreBackup as publicRestoreBackup, verifyBackup as publicVerifyBackup } from '../src/index.js';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import type { Store } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { scanAll } from './workload.js';

afterEach(removeTemporaryDirectories);

const KEYS = 40;
const WRITERS = 3;
const WRITES_PER_WRITER = 400;
/** A small memory budget, so the load flushes runs (and compacts) while the backup runs. */
const OPTIONS = { memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1_000 } as const;

interface Write {
  version: number;
  key: string;
  value: string | undefined;
}

/** The model: each key's newest write at or below `version` (undefined: deleted or never written). */
function stateAt(writes: readonly Write[], version: number): Map<string, unknown> {
  const state = new Map<string, unknown>();
  for (const write of [...writes].sort((a, b) => a.version - b.version)) {
    if (write.version > version) break;
    if (write.value === undefined) state.delete(write.key);
    else state.set(write.key, write.value);
  }
  return state;
}

async function writeLoad(store: Store, writer: number, writes: Write[]): Promise<void> {
  for (let index = 0; index < WRITES_PER_WRITER; index++) {
    const key = `key-${(index * 7 + writer) % KEYS}`;
    if (index % 11 === 10) {
      writes.push({ version: (await store.delete(key)).version, key, value: undefined });
    } else {
      const value = `w${writer}-${index}-${'x'.repeat(200)}`;
      writes.push({ version: (await store.put(key, value)).version, key, value });
    }
  }
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error);
}

describe('store.backup', () => {
  it('under a concurrent write load, restores to exactly the state as of the backup version', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const restoredDirectory = join(temporaryDirectory(), 'restored');
    const store = await openStore(directory, OPTIONS);
    const writes: Write[] = [];
    const load = Promise.all(Array.from({ length: WRITERS }, (_, writer) => writeLoad(store, writer, writes)));
    // Let the load get going, then back up while it continues.
    while (writes.length < (WRITERS * WRITES_PER_WRITER) / 4) await new Promise((resolve) => setImmediate(resolve));
    const versionBefore = store.version;
    const progress: number[] = [];
    const result = await store.backup(backupDirectory, { onProgress: (step) => progress.push(step.filesDone) });
    const writesDuringBackup = writes.filter((write) => write.version > versionBefore).length;
    await load;
    expect(result.version).toBeGreaterThanOrEqual(versionBefore);
    expect(store.version).toBeGreaterThan(result.version);
    expect(writesDuringBackup).toBeGreaterThan(0);
    expect(result.files).toBeGreaterThan(1);
    expect(progress.length).toBeGreaterThan(0);

    const expected = stateAt(writes, result.version);
    // The store's own view as of the backup version agrees with the model.
    const asOf = new Map<string, unknown>();
    for await (const [key, value] of store.scan({ asOf: result.version })) asOf.set(key as string, value);
    expect(asOf).toEqual(expected);
    await store.close();

    expect((await verifyBackup(new NodeFileSystem(), backupDirectory)).ok).toBe(true);
    const restored = await restoreBackup(new NodeFileSystem(), backupDirectory, restoredDirectory);
    expect(restored.version).toBe(result.version);
    const reopened = await openStore(restoredDirectory);
    try {
      expect(reopened.version).toBe(result.version);
      expect(await scanAll(reopened)).toEqual(expected);
      // The restored store takes writes after the backup version.
      expect((await reopened.put('after-restore', 1)).version).toBeGreaterThan(result.version);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a non-empty target, for backup and for restore', async () => {
    const directory = temporaryDirectory();
    const occupied = temporaryDirectory();
    writeFileSync(join(occupied, 'something'), 'x');
    const store = await openStore(directory);
    await store.put('a', 1);
    const error = await errorOf(store.backup(occupied));
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe(ErrorCode.Backup);
    expect((error as BackupError).reason).toBe('target-not-empty');
    const backupDirectory = join(temporaryDirectory(), 'backup');
    await store.backup(backupDirectory);
    await store.close();
    // The package's public form: directories first, the real file system by default.
    expect(await publicVerifyBackup(backupDirectory)).toMatchObject({ ok: true, files: 3 });
    const restoreError = await errorOf(publicRestoreBackup(backupDirectory, occupied));
    expect((restoreError as BackupError).reason).toBe('target-not-empty');
    expect(readdirSync(occupied)).toEqual(['something']);
  });

  it('refuses a backup damaged beyond its runs\' parity at restore and writes nothing', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const store = await openStore(directory);
    for (let index = 0; index < 100; index++) await store.put(`key-${index}`, index);
    await store.backup(backupDirectory);
    await store.close();
    // The run was hard-linked: damage a copy of it, not the store's own file.
    const runName = readdirSync(join(backupDirectory, 'runs'))[0]!;
    const runPath = join(backupDirectory, 'runs', runName);
    const bytes = readFileSync(runPath);
    rmSync(runPath);
    // Two pages of one stripe (the run's first two): parity rebuilds one at most (one alone
    // is rebuilt at restore, test/backup-restore-parity.test.ts).
    bytes[10]! ^= 0xff;
    bytes[4096 + 10]! ^= 0xff;
    writeFileSync(runPath, bytes);

    const report = await verifyBackup(new NodeFileSystem(), backupDirectory);
    expect(report.ok).toBe(false);
    expect(report.restorable).toBe(false);
    expect(report.problems).toEqual([{ path: `runs/${runName}`, reason: expect.stringMatching(/^checksum mismatch; restore refuses it: .*not rebuildable from parity/) as unknown, rebuildable: false }]);
    const target = join(temporaryDirectory(), 'restored');
    const error = await errorOf(restoreBackup(new NodeFileSystem(), backupDirectory, target));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(runPath);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a backup with a damaged or missing BACKUP.json', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const store = await openStore(directory);
    await store.put('a', 1);
    await store.backup(backupDirectory);
    await store.close();
    const manifestPath = join(backupDirectory, 'BACKUP.json');
    appendFileSync(manifestPath, ' ');
    const text = readFileSync(manifestPath, 'utf8').replace('"version":', '"version": ');
    writeFileSync(manifestPath, text.replace(/"version": *(\d+)/, (_, version: string) => `"version":${Number(version) + 1}`));
    const damaged = await errorOf(restoreBackup(new NodeFileSystem(), backupDirectory, join(temporaryDirectory(), 'restored')));
    expect((damaged as BackupError).reason).toBe('corrupt');
    rmSync(manifestPath);
    const missing = await errorOf(restoreBackup(new NodeFileSystem(), backupDirectory, join(temporaryDirectory(), 'restored')));
    expect((missing as BackupError).reason).toBe('incomplete');
  });

  it('with link: false copies the runs, so damage to a run file of the store leaves the backup intact', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const store = await openStore(directory);
    for (let index = 0; index < 100; index++) await store.put(`key-${index}`, index);
    const result = await store.backup(backupDirectory, { link: false });
    await store.close();
    expect(result.linkedFiles).toBe(0);
    expect(result.copiedFiles).toBe(result.files);
    // Damage the store's run in place: a hard link would carry it into the backup.
    const runName = readdirSync(join(directory, 'runs'))[0]!;
    const bytes = readFileSync(join(directory, 'runs', runName));
    bytes[100]! ^= 0xff;
    writeFileSync(join(directory, 'runs', runName), bytes);
    expect((await verifyBackup(new NodeFileSystem(), backupDirectory)).ok).toBe(true);
  });

  it('refuses misused arguments with InvalidOptionError before doing anything', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    const store = await openStore(directory);
    try {
      for (const call of [
        () => store.backup(backupDirectory, { lnk: false } as never),
        () => store.backup(backupDirectory, { link: 'yes' } as never),
        () => store.backup('' as never),
      ]) {
        const error = await errorOf(call());
        expect(error).toBeInstanceOf(InvalidOptionError);
      }
      expect(existsSync(backupDirectory)).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('stops when its signal aborts, leaving no BACKUP.json', async () => {
    const directory = temporaryDirectory();
    const backupDirectory = join(temporaryDirectory(), 'backup');
    mkdirSync(backupDirectory);
    const store = await openStore(directory);
    await store.put('a', 1);
    const controller = new AbortController();
    controller.abort();
    const error = await errorOf(store.backup(backupDirectory, { signal: controller.signal }));
    expect((error as Error).name).toBe('AbortError');
    expect(existsSync(join(backupDirectory, 'BACKUP.json'))).toBe(false);
    expect(await store.get('a')).toBe(1);
    await store.close();
  });
});
