/**
 * Review of 4dec7dd (restore rebuilds a backup's damaged run block from parity,
 * src/backup/repair-backup-run.ts) on the fault-injecting file system, beyond
 * backup-restore-parity's 41 flips on the real one:
 * - a flip at thousands of bytes of the backup's run (every other byte of the footer's
 *   page, each page's first and last 32 bytes, every 53rd elsewhere): each restore
 *   either writes the run byte for byte as the backup certified it, or refuses with a
 *   CorruptionError naming the backup's run and an offset inside it (no other error),
 *   and writes no file then; the backup's files are never changed by a restore;
 * - a flip in the parity page and one in a data page of the same stripe: refused;
 * - EIO reading the backup's run at each read of a restore: a typed error and no run
 *   restored, or (a read failing inside the rebuild is damage parity rebuilds) exact;
 * - a crash after every file-system operation of a restore that rebuilds a block, in
 *   every crash mode: the target opens with exactly the backup's data, or fails to
 *   open with a typed error (run files without a manifest), or, crashed before any
 *   manifest copy was there and no run, opens as a new empty store; never some keys.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoreBackup, type RestoreResult } from '../src/backup/restore-backup.js';
import { CorruptionError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { turnTaker } from './helpers.js';

const KEYS = 300;
const BACKUP = '/backup';
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'v'.repeat(100) });
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

interface Fixture {
  fileSystem: FaultFileSystem;
  runPath: string;
  original: Buffer;
  /** Every file of the backup and its bytes. */
  files: Map<string, Buffer>;
}

async function filesUnder(fileSystem: FaultFileSystem, prefix: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const path of fileSystem.listPaths().filter((candidate) => candidate.startsWith(`${prefix}/`)).sort()) {
    files.set(path, Buffer.from(await fileSystem.readFile(path)));
  }
  return files;
}

async function backupWithOneRun(seed: number): Promise<Fixture> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.backup(BACKUP, { link: false });
  await store.close();
  const runs = await fileSystem.readdir(`${BACKUP}/runs`);
  expect(runs).toHaveLength(1);
  const runPath = `${BACKUP}/runs/${runs[0]}`;
  const original = Buffer.from(await fileSystem.readFile(runPath));
  expect(original.length).toBeGreaterThan(4 * RUN_PAGE_BYTES);
  return { fileSystem, runPath, original, files: await filesUnder(fileSystem, BACKUP) };
}

async function removeTree(fileSystem: FaultFileSystem, prefix: string): Promise<void> {
  for (const path of fileSystem.listPaths().filter((candidate) => candidate.startsWith(`${prefix}/`))) await fileSystem.unlink(path);
}

async function expectStoreExact(fileSystem: FileSystem, directory: string): Promise<void> {
  const store = await openStore(directory, { fileSystem });
  try {
    for (let index = 0; index < KEYS; index++) expect(await store.get(keyOf(index))).toEqual(valueOf(index));
  } finally {
    await store.close();
  }
}

/** Offsets to flip: every other byte of the last page (the footer's), each page's first and last 32 bytes, every 53rd byte elsewhere. */
function flipOffsets(length: number): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset < length; offset++) {
    const inPage = offset % RUN_PAGE_BYTES;
    const dense = (offset >= length - RUN_PAGE_BYTES && offset % 2 === 0) || inPage < 32 || inPage >= RUN_PAGE_BYTES - 32;
    if (dense || offset % 53 === 0) offsets.push(offset);
  }
  return offsets;
}

describe('restore of a damaged backup run on the fault-injecting file system', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await backupWithOneRun(1);
  }, 60_000);

  it('a flip at each of ~4,600 bytes: the run restored byte for byte, or CorruptionError naming it; the backup unchanged, nothing written when refused', async () => {
    const { fileSystem, runPath, original, files } = fixture;
    const offsets = flipOffsets(original.length);
    let restored = 0;
    let refused = 0;
    const problems: string[] = [];
    const takeTurn = turnTaker();
    for (const [count, offset] of offsets.entries()) {
      await takeTurn();
      const bit = (offset * 5) % 8;
      fileSystem.flipBit(runPath, offset, bit);
      const target = `/restored-${offset}`;
      const outcome: RestoreResult | unknown = await restoreBackup(fileSystem, BACKUP, target).catch((error: unknown) => error);
      fileSystem.flipBit(runPath, offset, bit);
      if (outcome instanceof CorruptionError) {
        refused++;
        if (outcome.file !== runPath || !(outcome.offset >= 0 && outcome.offset < original.length)) problems.push(`offset ${offset}: refused naming ${outcome.file} at ${outcome.offset}`);
        if ((await fileSystem.exists(target)) && (await fileSystem.readdir(target)).length > 0) problems.push(`offset ${offset}: refused, yet wrote ${target}`);
      } else if (outcome instanceof Error) {
        problems.push(`offset ${offset}: ${outcome.name} ${String((outcome as { code?: string }).code)} ${outcome.message}`);
      } else {
        restored++;
        const names = await fileSystem.readdir(`${target}/runs`);
        const bytes = Buffer.from(await fileSystem.readFile(`${target}/runs/${names[0]}`));
        if (names.length !== 1 || !bytes.equals(original)) problems.push(`offset ${offset}: restored bytes differ from the certified run`);
        if ((outcome as RestoreResult).repaired.length === 0) problems.push(`offset ${offset}: restored with nothing reported rebuilt`);
        // Now and then the restored store is opened and read whole.
        if (count % 499 === 0) await expectStoreExact(fileSystem, target);
        await removeTree(fileSystem, target);
      }
      if (problems.length >= 10) break;
    }
    expect(problems).toEqual([]);
    expect(await filesUnder(fileSystem, BACKUP)).toEqual(files);
    // Nearly every byte is covered by a checked block whose stripe parity rebuilds.
    expect(restored).toBeGreaterThan(refused);
  }, 300_000);

  it('a flip in the parity page and one in a data page of its stripe: refused, nothing written', async () => {
    const { fileSystem, runPath, original } = fixture;
    // Which page is parity: the one whose single flip the restore reports as 'parity'.
    let parityOffset: number | undefined;
    for (let page = 0; page * RUN_PAGE_BYTES < original.length && parityOffset === undefined; page++) {
      const offset = page * RUN_PAGE_BYTES + 200;
      fileSystem.flipBit(runPath, offset, 1);
      const outcome = await restoreBackup(fileSystem, BACKUP, `/parity-probe-${page}`).catch((error: unknown) => error);
      fileSystem.flipBit(runPath, offset, 1);
      if (!(outcome instanceof Error) && (outcome as RestoreResult).repaired.some((repair) => repair.kind === 'parity')) parityOffset = offset;
    }
    expect(parityOffset).toBeDefined();
    fileSystem.flipBit(runPath, parityOffset!, 1);
    fileSystem.flipBit(runPath, 100, 2);
    const error = await restoreBackup(fileSystem, BACKUP, '/parity-and-data').catch((caught: unknown) => caught);
    fileSystem.flipBit(runPath, parityOffset!, 1);
    fileSystem.flipBit(runPath, 100, 2);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).file).toBe(runPath);
    expect(await fileSystem.exists('/parity-and-data/runs') && (await fileSystem.readdir('/parity-and-data/runs')).length > 0).toBe(false);
  }, 60_000);

  it('EIO reading the damaged run during the restore: a typed error and no run restored, or the run restored byte for byte', async () => {
    const { fileSystem, runPath, original } = fixture;
    let fired = 0;
    for (let nth = 1; nth <= 12; nth++) {
      fileSystem.flipBit(runPath, RUN_PAGE_BYTES + 100, 3);
      const fault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: runPath, nth });
      const target = `/eio-${nth}`;
      const outcome = await restoreBackup(fileSystem, BACKUP, target).catch((error: unknown) => error);
      fault.remove();
      fileSystem.flipBit(runPath, RUN_PAGE_BYTES + 100, 3);
      if (fault.triggeredCount === 0) continue;
      fired++;
      if (outcome instanceof Error) {
        expect(typeof (outcome as { code?: unknown }).code, `nth ${nth}: ${String(outcome)}`).toBe('string');
        const runs = (await fileSystem.exists(`${target}/runs`)) ? await fileSystem.readdir(`${target}/runs`) : [];
        expect(runs.filter((name) => !name.includes('.tmp')), `nth ${nth}`).toEqual([]);
      } else {
        // A read error inside the rebuild is damage parity may rebuild; the bytes must still be the certified ones.
        const names = await fileSystem.readdir(`${target}/runs`);
        expect(Buffer.from(await fileSystem.readFile(`${target}/runs/${names[0]}`)).equals(original), `nth ${nth}`).toBe(true);
      }
    }
    // Since a run's EIO is damage parity rebuilds (backup-review-run-bad-sector), a read failing once is
    // absorbed (the page read again, or rebuilt): every outcome here may be a restore, which must be exact.
    expect(fired).toBeGreaterThan(0);
  }, 60_000);
});

describe('a crash during a restore that rebuilds a block', () => {
  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: the target opens with exactly the backup's data, or fails typed, never some keys`, async () => {
      const fixture = await backupWithOneRun(100 + index);
      const { fileSystem, runPath } = fixture;
      fileSystem.flipBit(runPath, RUN_PAGE_BYTES + 100, 4);
      const startCount = fileSystem.operationCount;
      await restoreBackup(fileSystem, BACKUP, '/count');
      const operations = fileSystem.operationCount - startCount;
      expect(operations).toBeGreaterThan(20);
      const problems: string[] = [];
      let opened = 0;
      let current = fileSystem;
      for (let crashAfter = 0; crashAfter <= operations && problems.length < 5; crashAfter++) {
        current.crashAfterOperations(crashAfter);
        await restoreBackup(current, BACKUP, `/t-${crashAfter}`).catch(() => undefined);
        const rebooted = current.crash(mode);
        const target = `/t-${crashAfter}`;
        const manifests = rebooted.listPaths().filter((path) => path.startsWith(`${target}/manifest/`));
        try {
          const store = await openStore(target, { fileSystem: rebooted });
          let present = 0;
          const wrong: string[] = [];
          try {
            for (let key = 0; key < KEYS; key++) {
              const value: unknown = await store.get(keyOf(key));
              if (value === undefined) continue;
              present++;
              if (JSON.stringify(value) !== JSON.stringify(valueOf(key))) wrong.push(keyOf(key));
            }
          } finally {
            await store.close();
          }
          if (present === KEYS && wrong.length === 0) opened++;
          // A restore that crashed before its first manifest copy was named opens as a new, empty store.
          else if (!(present === 0 && manifests.length === 0)) problems.push(`crash after ${crashAfter}: opened with ${present} of ${KEYS} keys, ${wrong.length} wrong (manifest files: ${manifests.length})`);
        } catch (error) {
          if (!(error instanceof Error) || typeof (error as { code?: unknown }).code !== 'string') problems.push(`crash after ${crashAfter}: ${String(error)}`);
        }
        current = rebooted;
      }
      expect(problems).toEqual([]);
      expect(opened).toBeGreaterThan(0);
    }, 300_000);
  }
});
