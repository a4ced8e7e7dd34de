/**
 * Second review of 3b7ea36 (an option of the wrong type, null included, is refused with
 * InvalidOptionError naming it, as README says of every option): restoreBackup's and
 * verifyBackup's options are the same family, and store.backup() already checks its
 * signal and onProgress. restoreBackup took { onProgress: 5 } and started the restore,
 * failing with a bare TypeError (no code) after it had written the first file, { signal: 5 }
 * likewise at its first check, and { fileSystem: null } failed with a bare TypeError;
 * verifyBackup took { fileSystem: null } for absent. Each is now a rejected
 * InvalidOptionError and nothing is written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => 'resolved', (error: unknown) => error);
}

describe('restoreBackup and verifyBackup options of the wrong type', () => {
  it('are refused with InvalidOptionError naming the option, nothing written', async () => {
    const store = await openStore(temporaryDirectory());
    await store.put('a', 1);
    await store.put('b', 2);
    const backup = join(temporaryDirectory(), 'b1');
    await store.backup(backup);
    await store.close();
    const cases: Array<[string, object]> = [
      ['onProgress', { onProgress: 5 }],
      ['onProgress', { onProgress: null }],
      ['signal', { signal: 5 }],
      ['signal', { signal: null }],
      ['fileSystem', { fileSystem: null }],
      ['fileSystem', { fileSystem: {} }],
    ];
    for (const [option, options] of cases) {
      const target = join(temporaryDirectory(), 'restored');
      const error = await rejection(() => restoreBackup(backup, target, options as never));
      expect(error, `restore ${JSON.stringify(options)}`).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
      expect((error as InvalidOptionError).option).toBe(option);
      expect(existsSync(target), `restore ${JSON.stringify(options)} wrote nothing`).toBe(false);
    }
    for (const fileSystem of [null, {}]) {
      const error = await rejection(() => verifyBackup(backup, { fileSystem } as never));
      expect(error, `verify ${JSON.stringify(fileSystem)}`).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe('fileSystem');
    }
    // Valid options still restore.
    const target = join(temporaryDirectory(), 'restored');
    const seen: number[] = [];
    await restoreBackup(backup, target, { onProgress: ({ filesDone }) => seen.push(filesDone), signal: new AbortController().signal });
    expect(seen.length).toBeGreaterThan(0);
    const restored = await openStore(target);
    expect(await restored.get('b')).toBe(2);
    await restored.close();
  });
});
