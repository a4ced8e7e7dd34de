/**
 * The crash harness runs only on a store of its own (src/harness/crash-directory.ts,
 * claimDirectory). It writes, overwrites and deletes its own keys in the store it
 * runs on, so `ladybug crash-test --dir <an application's store>` used to write about
 * 880 versions of harness keys into that store and then report the application's keys
 * as unexpected. Now a directory that is neither new, empty, nor marked by an earlier
 * run (CRASH_TEST_MARKER) is refused before anything in it is opened or written.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { CRASH_TEST_MARKER, crashTestPassed, runCrashTest } from '../src/harness/crash-test.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { openStore } from '../src/store/open-store.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

let workerPath = '';

beforeAll(async () => {
  await buildCli();
  workerPath = await harnessEntryPath('crash-worker');
}, 180_000);

/** Every file under `directory` with its bytes, to show nothing was written. */
function snapshotFiles(directory: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path, readFileSync(path).toString('base64'));
  }
  return files;
}

async function applicationStore(): Promise<string> {
  const directory = temporaryDirectory('ladybug-crash-dir-');
  const store = await openStore(directory);
  await store.put('invoice:1', { total: 42 });
  await store.close();
  return directory;
}

describe('crash-test on a directory it did not make', () => {
  it('refuses an application store before opening it (API): InvalidOptionError, every file unchanged', async () => {
    const directory = await applicationStore();
    const before = snapshotFiles(directory);
    const run = runCrashTest({ directory, cycles: 1, seed: 1, mode: 'kill', killAfterMsMin: 1, killAfterMsMax: 50, workerPath });
    await expect(run).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(run).rejects.toThrow(/not a store an earlier crash-test made/);
    expect(snapshotFiles(directory)).toEqual(before);
    const store = await openStore(directory);
    expect(await store.get('invoice:1')).toEqual({ total: 42 });
    expect(store.version).toBe(1);
    await store.close();
  });

  it('ladybug crash-test --dir <store> exits 2 with the reason and writes nothing', async () => {
    const directory = await applicationStore();
    const before = snapshotFiles(directory);
    const result = await ladybug('crash-test', '--dir', directory, '--cycles', '1', '--kill-after-ms-max', '50');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`option directory: ${directory} is not empty`);
    expect(snapshotFiles(directory)).toEqual(before);
  }, 60_000);

  it('refuses a directory of other files, and a file given as the directory', async () => {
    const directory = temporaryDirectory('ladybug-crash-dir-');
    writeFileSync(join(directory, 'notes.txt'), 'mine');
    await expect(runCrashTest({ directory, cycles: 1, seed: 1, mode: 'kill', workerPath })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(readdirSync(directory)).toEqual(['notes.txt']);
    await expect(runCrashTest({ directory: join(directory, 'notes.txt'), cycles: 1, seed: 1, mode: 'kill', workerPath })).rejects.toThrow(/is not a directory/);
  });

  it('takes a directory holding only a marker temporary a crash left (a marking cut short) as empty', async () => {
    const directory = temporaryDirectory('ladybug-crash-dir-');
    writeFileSync(join(directory, `${CRASH_TEST_MARKER}.tmp`), '');
    const summary = await runCrashTest({ directory, cycles: 1, seed: 5, mode: 'kill', killAfterMsMin: 20, killAfterMsMax: 100, workerPath });
    expect(crashTestPassed(summary)).toBe(true);
    expect(readdirSync(directory)).toContain(CRASH_TEST_MARKER);
    expect(readdirSync(directory)).not.toContain(`${CRASH_TEST_MARKER}.tmp`);
  }, 60_000);

  it('marks a new directory and takes over its own store on a later run', async () => {
    const directory = join(temporaryDirectory('ladybug-crash-dir-'), 'store');
    const first = await runCrashTest({ directory, cycles: 2, seed: 3, mode: 'kill', killAfterMsMin: 20, killAfterMsMax: 200, workerPath });
    expect(crashTestPassed(first)).toBe(true);
    expect(existsSync(join(directory, CRASH_TEST_MARKER))).toBe(true);
    expect(existsSync(join(directory, `${CRASH_TEST_MARKER}.tmp`))).toBe(false);
    const second = await runCrashTest({ directory, cycles: 2, seed: 4, mode: 'kill', killAfterMsMin: 20, killAfterMsMax: 200, workerPath });
    expect(second.problems).toEqual([]);
    expect(crashTestPassed(second)).toBe(true);
    // The later run worked on the store (its counts are its own cycles', so they are not compared with the first run's).
    expect(second.cycles).toBe(2);
    expect(second.acknowledged).toBeGreaterThan(0);
  }, 120_000);
});
