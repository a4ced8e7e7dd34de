/**
 * Running out of file descriptors when the WAL opens its next segment. A WAL step that
 * fails fail-stops the store (docs/ARCHITECTURE.md, fail-stop), as before; what this
 * pins is the error a writer then sees: a StoreFailedError whose message names EMFILE /
 * ENFILE and says what to do (the same advice as a flush's IoError), with the system's
 * error as its cause, and nothing acknowledged lost after a crash.
 */
import { describe, expect, it } from 'vitest';
import { openStore, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const DIRECTORY = '/db';
const SEGMENT = /\/wal\/wal-\d+\.log$/;

describe('the WAL finds no file descriptor free for its next segment', () => {
  for (const errno of ['EMFILE', 'ENFILE']) {
    it(`${errno}: the store fails with a message saying what to do; every acknowledged write survives`, async () => {
      const fileSystem = new FaultFileSystem(41);
      const store = await openStore(DIRECTORY, { fileSystem, segmentSizeBytes: 16 * 1024 });
      const written = new Map<string, string>();
      const fault = fileSystem.injectFault({ operation: 'open', error: errno, path: SEGMENT, persistent: true });
      let failure: unknown;
      for (let index = 0; index < 2_000 && failure === undefined; index++) {
        const key = `key-${String(index).padStart(5, '0')}`;
        const value = `value ${index} ${'v'.repeat(200)}`;
        try {
          await store.put(key, value);
          written.set(key, value);
        } catch (error) {
          failure = error;
        }
      }
      expect(fault.triggeredCount).toBeGreaterThan(0);
      expect(failure).toBeInstanceOf(StoreFailedError);
      const message = (failure as Error).message;
      expect(message).toContain(errno);
      expect(message).toMatch(/too many open files/);
      expect(message).toMatch(/raise the limit \(ulimit -n/);
      expect(written.size).toBeGreaterThan(0);
      await store.close().catch(() => undefined);
      const crashed = fileSystem.crash('drop-unsynced');
      crashed.clearFaults();
      const reopened = await openStore(DIRECTORY, { fileSystem: crashed });
      for (const [key, value] of written) expect(await reopened.get(key), key).toBe(value);
      await reopened.close();
    });
  }
});
