/**
 * A lock file a newer release wrote (its formatVersion above 2), held by a live process of
 * that release: openStore and DirectoryLock.unlock (`ladybug unlock --force`) must refuse
 * with UnsupportedFormatError (LADYBUG_UNSUPPORTED_FORMAT) naming the lock file, and leave
 * it: a lock this release cannot judge is not a dead holder's to take over, whatever its
 * fields (a newer body shape read as "unreadable", as a crash's empty file, was taken over
 * and removed, so two processes wrote the store).
 */
import { hostname } from 'node:os';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, UnsupportedFormatError } from '../src/errors.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { openStore } from '../src/store/open-store.js';

const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const now = new Date().toISOString();
const BODIES = {
  'a body of the fields this release knows': { formatVersion: 3, pid: process.pid, host: hostname(), processStart: 0, token: 'newer', acquiredAt: now, heartbeatAt: now, released: false },
  'a body of another shape': { formatVersion: 3, holder: { pid: process.pid, host: hostname() }, token: 'newer', acquiredAt: now, heartbeatAt: now, state: 'held' },
};

describe('a lock file of a newer lock format version', () => {
  for (const [name, body] of Object.entries(BODIES)) {
    it(`${name}: open and unlock refuse it as unsupported and leave it`, async () => {
      const directory = mkdtempSync(join(tmpdir(), 'ladybug-future-review-lock-'));
      directories.push(directory);
      const store = await openStore(directory);
      await store.put('k', 1);
      await store.close();
      const lockPath = join(directory, 'LOCK.000000000009');
      writeFileSync(lockPath, JSON.stringify(body));
      const locksBefore = readdirSync(directory).filter((entry) => entry.startsWith('LOCK')).sort();

      for (const attempt of [() => openStore(directory), () => DirectoryLock.unlock(new NodeFileSystem(), directory)]) {
        const error = await attempt().then(async (opened) => {
          if (opened !== undefined && 'close' in opened) await opened.close();
          return opened;
        }, (failure: unknown) => failure);
        expect(error).toBeInstanceOf(UnsupportedFormatError);
        expect((error as UnsupportedFormatError).code).toBe(ErrorCode.UnsupportedFormat);
        expect((error as UnsupportedFormatError).file).toBe(lockPath);
        expect((error as UnsupportedFormatError).found).toBe('lock format version 3');
      }
      expect(readdirSync(directory).filter((entry) => entry.startsWith('LOCK')).sort()).toEqual(locksBefore);
      expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toEqual(body);
    });
  }
});
