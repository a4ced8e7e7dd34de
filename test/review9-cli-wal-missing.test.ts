/**
 * Review (review9): the `ladybug` command on a store whose wal/ directory was removed
 * (manifest and runs still there). Every command said "no ladybug store at DIR" and
 * exited 2, the status of a missing store or a bad argument, so a script could not tell
 * a damaged store from a typo in its path; verifyStore itself threw a raw ENOENT there.
 * Now the directory counts as a store when it holds a manifest copy: `verify` reports
 * the missing WAL as corruption (exit 1, writing nothing), and the commands that open
 * the store get openStore's CorruptionError (exit 1, one line, nothing created). A
 * directory with neither wal/ nor a manifest copy is still no store (exit 2).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

async function storeWithoutWal(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
  for (let index = 0; index < 300; index++) await store.put(`key-${index}`, index);
  await store.close();
  rmSync(join(directory, 'wal'), { recursive: true });
  return directory;
}

describe('ladybug on a store whose wal/ is missing', () => {
  it('verify reports corruption naming wal/ (exit 1) and creates no wal/', async () => {
    const directory = await storeWithoutWal();
    const result = await ladybug('verify', directory, '--json');
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; corruption: { file: string } | null };
    expect(report.ok).toBe(false);
    expect(report.corruption?.file).toBe(join(directory, 'wal'));
    expect(existsSync(join(directory, 'wal'))).toBe(false);
  });

  it('stats and dump exit 1 with the open\'s CorruptionError on one line, and create no wal/', async () => {
    const directory = await storeWithoutWal();
    for (const command of ['stats', 'dump']) {
      const result = await ladybug(command, directory);
      expect(result.code, command).toBe(1);
      expect(result.stderr, command).toMatch(/WAL directory is missing.*\[LADYBUG_CORRUPTION\]/);
      expect(result.stderr.trim().split('\n'), command).toHaveLength(1);
      expect(existsSync(join(directory, 'wal')), command).toBe(false);
    }
  });

  it('a directory with neither wal/ nor a manifest copy is still no store (exit 2)', async () => {
    const directory = temporaryDirectory();
    mkdirSync(join(directory, 'manifest'));
    const result = await ladybug('verify', directory);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no ladybug store/);
  });
});
