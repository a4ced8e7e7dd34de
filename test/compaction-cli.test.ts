/**
 * `ladybug compact <dir>` (issue 8): checkpoints, merges the runs, prints what it
 * did (text or --json), and the store reads the same afterwards.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

afterEach(() => removeTemporaryDirectories());

beforeAll(async () => {
  // tsc emits even when another engineer's file has a transient type error.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: join(import.meta.dirname, '..') }).catch(() => undefined);
}, 120_000);

describe('ladybug compact', () => {
  it('merges the runs with --json and --max-versions-per-key, and the data reads the same', async () => {
    const directory = temporaryDirectory();
    // One run per round (the default budget holds the 200 keys until the checkpoint): with a
    // 256 KiB budget each round flushed 3 runs and the count seen here depended on how far
    // background compaction (in the merge thread since 2026-11-30) had got.
    const store = await openStore(directory);
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 200; index++) await store.put(`k${index}`, { round });
      await store.checkpoint();
    }
    expect(store.stats().storage.runs).toBe(3);
    await store.close();
    const { stdout } = await run(process.execPath, [cli, 'compact', directory, '--json', '--max-versions-per-key', '1']);
    const report = JSON.parse(stdout) as { outcome: string; runsIn: number; runsOut: number; entriesDropped: number; runs: number };
    expect(report).toMatchObject({ outcome: 'compacted', runsIn: 3, runsOut: 1, entriesDropped: 400, runs: 1 });
    const text = await run(process.execPath, [cli, 'compact', directory]);
    expect(text.stdout).toMatch(/compact: compacted, 1 runs into 1/);
    const reopened = await openStore(directory);
    for (let index = 0; index < 200; index++) expect(await reopened.get(`k${index}`)).toEqual({ round: 2 });
    await reopened.close();
  }, 60_000);

  it('--retain-versions-ms keeps the versions inside the window that --max-versions-per-key alone drops', async () => {
    const directory = temporaryDirectory();
    const hourMs = 60 * 60 * 1000;
    const store = await openStore(directory, { retainVersionsMs: hourMs });
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 200; index++) await store.put(`k${index}`, { round });
      await store.checkpoint();
    }
    await store.close();
    const retained = await run(process.execPath, [cli, 'compact', directory, '--json', '--max-versions-per-key', '1', '--retain-versions-ms', String(hourMs)]);
    expect(JSON.parse(retained.stdout)).toMatchObject({ outcome: 'compacted', runsIn: 3, runsOut: 1, entriesDropped: 0 });
    const dropped = await run(process.execPath, [cli, 'compact', directory, '--json', '--max-versions-per-key', '1']);
    expect(JSON.parse(dropped.stdout)).toMatchObject({ outcome: 'compacted', runsIn: 1, runsOut: 1, entriesDropped: 400 });
    const refused = run(process.execPath, [cli, 'compact', directory, '--retain-versions-ms', '-5']);
    await expect(refused).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
