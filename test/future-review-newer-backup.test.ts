/**
 * A backup a newer release made (BACKUP.json's formatVersion above 1, its checksum valid,
 * as that release writes it): verifyBackup and restoreBackup refuse it with
 * UnsupportedFormatError (LADYBUG_UNSUPPORTED_FORMAT), naming BACKUP.json, the version
 * found and the one this release reads, instead of calling it corrupt; nothing of the
 * backup changes and no target is made.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreStoreBackup, verifyStoreBackup } from '../src/backup/backup-api.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { ErrorCode, UnsupportedFormatError } from '../src/errors.js';
import { openStore } from '../src/store/open-store.js';

const hash = await loadHash64();
const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function filesOf(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const relative of readdirSync(directory, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(directory, relative);
    files[relative] = statSync(path).isDirectory() ? 'directory' : createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return files;
}

describe('a backup of a newer backup format version', () => {
  it('is refused as unsupported by verifyBackup and restoreBackup, and left as it is', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ladybug-future-review-backup-'));
    directories.push(root);
    const store = await openStore(join(root, 'store'));
    for (let index = 0; index < 20; index++) await store.put(`k${index}`, index);
    await store.backup(join(root, 'backup'));
    await store.close();
    const manifestPath = join(root, 'backup', 'BACKUP.json');
    const written = JSON.parse(readFileSync(manifestPath, 'utf8')) as { body: { formatVersion: number }; checksum: string };
    written.body.formatVersion = 2;
    written.checksum = hash(Buffer.from(JSON.stringify(written.body), 'utf8')).toString(16).padStart(16, '0');
    writeFileSync(manifestPath, JSON.stringify(written));
    const before = filesOf(join(root, 'backup'));

    for (const attempt of [() => verifyStoreBackup(join(root, 'backup')), () => restoreStoreBackup(join(root, 'backup'), join(root, 'restored'))]) {
      const error = await attempt().then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(UnsupportedFormatError);
      expect((error as UnsupportedFormatError).code).toBe(ErrorCode.UnsupportedFormat);
      expect((error as UnsupportedFormatError).file).toBe(manifestPath);
      expect((error as UnsupportedFormatError).found).toBe('backup format version 2');
      expect((error as UnsupportedFormatError).supported).toBe('backup format version 1');
    }
    expect(filesOf(join(root, 'backup'))).toEqual(before);
    expect(existsSync(join(root, 'restored'))).toBe(false);
  });
});
