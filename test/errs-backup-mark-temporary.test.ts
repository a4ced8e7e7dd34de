/**
 * A backup or restore target left by an earlier release killed while it wrote its mark:
 * that release wrote `BACKUP-INCOMPLETE.tmp` and renamed it, so a kill in between left
 * the temporary mark only (empty or partly written), perhaps beside partial store files.
 * openStore took such a directory for a new store (version 0, none of the backup's keys)
 * and wrote one into it. It is refused as the mark itself is (BackupError 'not-a-store'),
 * with nothing written, unless the directory holds a store an open made (a manifest
 * generation, or WAL segments of a WAL-only store): an earlier release that opened the
 * directory after the kill left the temporary mark beside a store that may since hold
 * acknowledged writes, and that store still opens with everything in it.
 */
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, ErrorCode, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const TEMPORARY_MARK = 'BACKUP-INCOMPLETE.tmp';
const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

/** Every path under `directory`, with each file's size: what "nothing written" compares. */
async function listing(fileSystem: FaultFileSystem, directory: string): Promise<string[]> {
  const paths: string[] = [];
  for (const name of (await fileSystem.readdir(directory)).sort()) {
    const path = `${directory}/${name}`;
    const children = await listing(fileSystem, path).catch(() => undefined);
    if (children !== undefined) paths.push(`${path}/`, ...children);
    else paths.push(`${path} ${(await fileSystem.readFile(path)).length}`);
  }
  return paths;
}

async function writeFile(fileSystem: FaultFileSystem, path: string, text: string): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  await handle.write(Buffer.from(text), 0);
  await handle.close();
}

/** A directory as the earlier release's killed backup or restore left it: `layout` adds the rest. */
async function killedTarget(markText: string, layout: (fileSystem: FaultFileSystem) => Promise<void>): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(23);
  await fileSystem.mkdir('/target');
  await writeFile(fileSystem, `/target/${TEMPORARY_MARK}`, markText);
  await layout(fileSystem);
  return fileSystem;
}

describe('a target holding only BACKUP-INCOMPLETE.tmp is refused as an incomplete backup', () => {
  const cases: Array<[string, string, (fileSystem: FaultFileSystem) => Promise<void>]> = [
    ['the temporary mark alone, empty', '', async () => undefined],
    ['the temporary mark alone, partly written', 'ladybug backup in progr', async () => undefined],
    ['beside partial restore files (runs, a manifest copy still temporary, an empty wal/)', 'ladybug restore in progress', async (fileSystem) => {
      for (const name of ['runs', 'manifest', 'wal']) await fileSystem.mkdir(`/target/${name}`);
      await writeFile(fileSystem, '/target/runs/0000000001.run', 'x'.repeat(4096));
      await writeFile(fileSystem, '/target/manifest/MANIFEST-0000000002.a.tmp', 'partial');
    }],
  ];
  for (const [name, markText, layout] of cases) {
    it(`${name}: BackupError not-a-store, nothing written`, async () => {
      const fileSystem = await killedTarget(markText, layout);
      const before = await listing(fileSystem, '/target');
      const error = await errorOf(openStore('/target', { fileSystem }));
      expect(error).toBeInstanceOf(BackupError);
      expect(error).toMatchObject({ code: ErrorCode.Backup, reason: 'not-a-store', path: '/target' });
      expect((error as Error).message).toContain(TEMPORARY_MARK);
      expect(await listing(fileSystem, '/target')).toEqual(before);
    });
  }
});

describe('BACKUP-INCOMPLETE.tmp beside a store an open made does not make it unopenable', () => {
  it('a store with a manifest and acknowledged writes opens with all of them', async () => {
    const fileSystem = new FaultFileSystem(24);
    const store = await openStore('/target', { fileSystem });
    await store.put('checkpointed', 1);
    await store.checkpoint();
    await store.put('in the log', 2);
    await store.close();
    await writeFile(fileSystem, `/target/${TEMPORARY_MARK}`, 'ladybug restore in progr');
    const reopened = await openStore('/target', { fileSystem });
    expect(await reopened.get('checkpointed')).toBe(1);
    expect(await reopened.get('in the log')).toBe(2);
    await reopened.put('after', 3);
    await reopened.close();
  });

  it('a new store whose manifest an open made, nothing written yet, opens', async () => {
    const fileSystem = await killedTarget('', async () => undefined);
    // An earlier release opened it after the kill: the store it made, without the mark's refusal.
    await fileSystem.unlink(`/target/${TEMPORARY_MARK}`);
    const store = await openStore('/target', { fileSystem });
    await store.close();
    await writeFile(fileSystem, `/target/${TEMPORARY_MARK}`, '');
    const reopened = await openStore('/target', { fileSystem });
    expect(reopened.version).toBe(0);
    await reopened.close();
  });

  it('a WAL-only store (release 0.1) opens with its data', async () => {
    const directory = temporaryDirectory();
    cpSync(join(import.meta.dirname, 'fixtures', 'store-v0.1-wal-only'), directory, { recursive: true });
    writeFileSync(join(directory, TEMPORARY_MARK), '');
    const store = await openStore(directory, { segmentSizeBytes: 16 * 1024 });
    expect(store.version).toBe(373);
    expect(readdirSync(directory)).toContain('manifest');
    await store.close();
  });
});
