/**
 * `ladybug scrub <dir>`: the text says what a scrub checks (run blocks, the manifest's
 * two copies, the sealed WAL segments), the title counts each, and --json carries the
 * manifest and WAL figures next to the runs'. Run blocks' damage and repair are
 * covered by test/stripe-store-scrub.test.ts.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
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

/** A store with one run and, left in the WAL (no checkpoint at close), several sealed segments. */
async function storeWithRunAndSealedSegments(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { segmentSizeBytes: 16 * 1024, checkpointOnClose: false, walCheckpointBytes: 64 * 1024 * 1024 });
  for (let index = 0; index < 200; index++) await store.put(`run-${index}`, { index });
  await store.checkpoint();
  for (let index = 0; index < 600; index++) await store.put(`wal-${index}`, { index, text: 'w'.repeat(index % 60) });
  await store.close();
  expect(readdirSync(join(directory, 'wal')).filter((name) => name.endsWith('.log')).length).toBeGreaterThan(2);
  return directory;
}

describe('ladybug scrub', () => {
  it('--help names the manifest copies and sealed WAL segments, not only run blocks', async () => {
    const { stdout } = await run(process.execPath, [cli, 'scrub', '--help']);
    expect(stdout).toMatch(/run block/);
    expect(stdout).toMatch(/manifest/);
    expect(stdout).toMatch(/sealed WAL segment/);
  });

  it('the title counts runs, manifest copies and sealed WAL segments; --json holds the same figures', async () => {
    const directory = await storeWithRunAndSealedSegments();
    const json = await run(process.execPath, [cli, 'scrub', directory, '--json']);
    const report = JSON.parse(json.stdout) as { runs: number; manifest: { copiesChecked: number }; wal: { segmentsChecked: number; recordsChecked: number }; unrecoverable: unknown[] };
    expect(report.unrecoverable).toEqual([]);
    expect(report.runs).toBe(1);
    expect(report.manifest.copiesChecked).toBe(2);
    expect(report.wal.segmentsChecked).toBeGreaterThanOrEqual(1);
    expect(report.wal.recordsChecked).toBeGreaterThan(0);

    // The CLI's close checkpointed: reopen the same shape for the text form.
    const again = await storeWithRunAndSealedSegments();
    const { stdout } = await run(process.execPath, [cli, 'scrub', again]);
    const [title] = stdout.split('\n');
    expect(title).toMatch(/^scrub: ok \(1 runs, 2 manifest copies, [1-9]\d* sealed WAL segments\)$/);
    expect(stdout).toMatch(/\n {2}manifest:\n/);
    expect(stdout).toMatch(/\n {2}wal:\n/);
  }, 60_000);
});
