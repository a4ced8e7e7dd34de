/**
 * Restore of a backup whose run is damaged (src/backup/repair-backup-run.ts). A backup
 * is the last copy: a run block or parity page parity can rebuild is rebuilt in the
 * restored copy (the backup is left as it is) and reported, and the restored file is
 * byte for byte the run the backup certified; damage beyond parity is refused with
 * CorruptionError naming the backup's file and the offset, and nothing is written.
 * Before, any checksum mismatch of a run was refused (BackupError 'corrupt').
 * verifyBackup says which of the two a damaged run is, by the same rebuild, writing nothing.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreBackup, verifyBackup, type RestoreResult } from '../src/backup/restore-backup.js';
import { BackupError, CorruptionError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const KEYS = 300;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'v'.repeat(100) });

/** A backup (runs copied, not linked) of a store with one run of several data blocks; the run's path in the backup and its bytes. */
async function backupWithOneRun(): Promise<{ backup: string; runPath: string; original: Buffer }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  const backup = join(temporaryDirectory(), 'backup');
  await store.backup(backup, { link: false });
  await store.close();
  const runs = readdirSync(join(backup, 'runs'));
  expect(runs).toHaveLength(1);
  const runPath = join(backup, 'runs', runs[0]!);
  const original = readFileSync(runPath);
  expect(original.length).toBeGreaterThan(4 * RUN_PAGE_BYTES);
  return { backup, runPath, original };
}

function damage(path: string, original: Buffer, offsets: number[]): Buffer {
  const bytes = Buffer.from(original);
  for (const offset of offsets) bytes[offset]! ^= 0x04;
  rmSync(path);
  writeFileSync(path, bytes);
  return bytes;
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error);
}

describe('restore of a backup with a damaged run', () => {
  it('one bit flipped in a data block: rebuilt from parity in the restored copy, reported; the backup is unchanged', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    const damaged = damage(runPath, original, [RUN_PAGE_BYTES + 100]);
    const target = join(temporaryDirectory(), 'restored');
    const result = await restoreBackup(new NodeFileSystem(), backup, target);
    expect(result.repaired).toEqual([{ file: runPath, kind: 'data', logicalOffset: RUN_PAGE_BYTES, stripe: 0 }]);
    const restoredRun = join(target, 'runs', readdirSync(join(target, 'runs'))[0]!);
    expect(readFileSync(restoredRun).equals(original)).toBe(true);
    expect(readFileSync(runPath).equals(damaged)).toBe(true);
    const store = await openStore(target);
    for (let index = 0; index < KEYS; index++) expect(await store.get(keyOf(index))).toEqual(valueOf(index));
    await store.close();
  }, 60_000);

  it('one bit flipped anywhere in the run: restored byte for byte, or refused with CorruptionError, never a wrong byte', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    let restored = 0;
    for (let offset = 7; offset < original.length; offset += Math.floor(original.length / 40)) {
      damage(runPath, original, [offset]);
      const target = join(temporaryDirectory(), `restored-${offset}`);
      const outcome: RestoreResult | unknown = await restoreBackup(new NodeFileSystem(), backup, target).catch((error: unknown) => error);
      if (outcome instanceof CorruptionError) {
        expect(outcome.file).toBe(runPath);
        expect(existsSync(target)).toBe(false);
        continue;
      }
      if (outcome instanceof Error) throw outcome;
      expect((outcome as RestoreResult).repaired.length, `offset ${offset}`).toBeGreaterThan(0);
      const restoredRun = join(target, 'runs', readdirSync(join(target, 'runs'))[0]!);
      expect(readFileSync(restoredRun).equals(original), `offset ${offset}`).toBe(true);
      restored++;
    }
    // Every byte of a block, an index or a footer is checked, so nearly every flip is rebuilt.
    expect(restored).toBeGreaterThanOrEqual(35);
  }, 120_000);

  it('damage beyond parity (two data pages of one stripe): CorruptionError naming the backup\'s file and offset, nothing written', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    const damaged = damage(runPath, original, [100, RUN_PAGE_BYTES + 100]);
    const target = join(temporaryDirectory(), 'restored');
    const error = await errorOf(restoreBackup(new NodeFileSystem(), backup, target));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(runPath);
    expect([0, RUN_PAGE_BYTES]).toContain((error as CorruptionError).offset);
    expect((error as Error).message).toMatch(/not rebuildable from parity/);
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(runPath).equals(damaged)).toBe(true);
  }, 60_000);

  it('both manifest copies damaged is refused (BackupError corrupt): no parity, no intact twin (one is written from the other: faults-backup-manifest-copy)', async () => {
    const { backup } = await backupWithOneRun();
    const manifestDirectory = join(backup, 'manifest');
    for (const name of readdirSync(manifestDirectory)) {
      const copy = join(manifestDirectory, name);
      damage(copy, readFileSync(copy), [20]);
    }
    const target = join(temporaryDirectory(), 'restored');
    const error = await errorOf(restoreBackup(new NodeFileSystem(), backup, target));
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).reason).toBe('corrupt');
    expect(existsSync(target)).toBe(false);
  }, 60_000);

  it('verify says a run\'s damage is rebuildable (restorable, not ok), lists what restore then rebuilds, and writes nothing', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    const damaged = damage(runPath, original, [RUN_PAGE_BYTES + 100]);
    const listing = () => ['.', 'runs', 'manifest'].map((name) => readdirSync(join(backup, name)).sort().join(','));
    const before = listing();
    const report = await verifyBackup(new NodeFileSystem(), backup);
    expect(report.ok).toBe(false);
    expect(report.restorable).toBe(true);
    const runName = `runs/${runPath.slice(join(backup, 'runs').length + 1)}`;
    expect(report.problems).toEqual([{ path: runName, reason: expect.stringMatching(/^checksum mismatch; rebuildable from parity: restore rebuilds 1 of its blocks/) as unknown, rebuildable: true }]);
    expect(report.rebuildable).toEqual([{ file: runPath, kind: 'data', logicalOffset: RUN_PAGE_BYTES, stripe: 0 }]);
    expect(readFileSync(runPath).equals(damaged)).toBe(true);
    expect(listing()).toEqual(before);
    // What verify says restore rebuilds, it does.
    const result = await restoreBackup(new NodeFileSystem(), backup, join(temporaryDirectory(), 'restored'));
    expect(result.repaired).toEqual(report.rebuildable);
  }, 60_000);

  it('verify says damage beyond parity is not restorable, naming the offset, and writes nothing', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    const damaged = damage(runPath, original, [100, RUN_PAGE_BYTES + 100]);
    const report = await verifyBackup(new NodeFileSystem(), backup);
    expect(report.ok).toBe(false);
    expect(report.restorable).toBe(false);
    expect(report.rebuildable).toEqual([]);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]!.rebuildable).toBe(false);
    expect(report.problems[0]!.reason).toMatch(/^checksum mismatch; restore refuses it: corruption in .* at offset (0|4096): .*not rebuildable from parity/);
    expect(readFileSync(runPath).equals(damaged)).toBe(true);
  }, 60_000);

  it('verify: both manifest copies damaged is not restorable, a rebuildable run beside it included (restore refuses the backup)', async () => {
    const { backup, runPath, original } = await backupWithOneRun();
    damage(runPath, original, [RUN_PAGE_BYTES + 100]);
    const manifestDirectory = join(backup, 'manifest');
    for (const name of readdirSync(manifestDirectory)) {
      const copy = join(manifestDirectory, name);
      damage(copy, readFileSync(copy), [20]);
    }
    const report = await verifyBackup(new NodeFileSystem(), backup);
    expect(report.ok).toBe(false);
    expect(report.restorable).toBe(false);
    expect(report.problems.find((problem) => problem.path.startsWith('manifest/'))).toEqual({ path: expect.stringMatching(/^manifest\//) as unknown, reason: 'checksum mismatch', rebuildable: false });
    const error = await errorOf(restoreBackup(new NodeFileSystem(), backup, join(temporaryDirectory(), 'restored')));
    expect((error as BackupError).reason).toBe('corrupt');
  }, 60_000);
});
