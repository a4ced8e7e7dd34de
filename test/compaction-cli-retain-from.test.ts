/**
 * `ladybug compact <dir> --retain-from <version>` raises the store-wide retention
 * floor (src/compaction/retention-floor.ts) before it merges: reads below it are
 * refused afterwards, at and above it the store reads the same.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, VersionNotRetainedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

afterEach(() => removeTemporaryDirectories());

beforeAll(async () => {
  // tsc emits even when another engineer's file has a transient type error.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: join(import.meta.dirname, '..') }).catch(() => undefined);
}, 120_000);

describe('ladybug compact --retain-from', () => {
  it('raises the floor, drops what only reads below it could see, and says so', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    for (let index = 0; index < 100; index++) await store.put(`k${index}`, index);
    const written = store.version;
    for (let index = 0; index < 100; index++) if (index % 10 !== 0) await store.delete(`k${index}`);
    const floor = store.version;
    await store.close();
    const { stdout } = await run(process.execPath, [cli, 'compact', directory, '--json', '--max-versions-per-key', '1', '--retain-from', String(floor)]);
    const report = JSON.parse(stdout) as { outcome: string; retentionFloor: number; entriesOut: number };
    expect(report).toMatchObject({ outcome: 'compacted', retentionFloor: floor, entriesOut: 10 });
    const text = await run(process.execPath, [cli, 'compact', directory]);
    expect(text.stdout).toMatch(new RegExp(`retention floor ${floor}`));
    const reopened = await openStore(directory);
    expect(await reopened.get('k10', { asOf: floor })).toBe(10);
    expect(await reopened.get('k11', { asOf: floor })).toBeUndefined();
    await expect(reopened.get('k10', { asOf: written })).rejects.toBeInstanceOf(VersionNotRetainedError);
    await reopened.close();
    await expect(run(process.execPath, [cli, 'compact', directory, '--retain-from', '-1'])).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
