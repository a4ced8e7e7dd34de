/**
 * `ladybug watch <dir>` (from version 0, no --follow) reads the store's history in the
 * largest catch-up batches the feed allows (WATCH_CATCH_UP_BATCH_CHANGES_MAX), not the API's
 * default of 4,096. Each batch is one pass over the whole history, so with the default a
 * store of 1M keys (1.22M changes) took about 300 passes: 282,754 changes printed in 747 s,
 * the whole about 53 min; with 65,536 it is 19 passes, 256 s.
 *
 * The built command runs with a preload that reports the feed's catchUpMemory counter
 * (the most changes one pass held) at exit: over 10,000 changes the default holds at most
 * 2 x 4,096, one large batch holds them all.
 *
 * Runs the built command (npm test builds first; LADYBUG_TEST_CLI may name another build).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

afterAll(() => removeTemporaryDirectories());
beforeAll(async () => {
  if (process.env['LADYBUG_TEST_CLI'] === undefined && !existsSync(cliPath)) await buildCli();
}, 120_000);

const command = process.env['LADYBUG_TEST_CLI'] ?? cliPath;
const KEYS = 10_000;
const key = (i: number): string => `k${String(i).padStart(5, '0')}`;

describe('ladybug watch catches up in large batches', () => {
  it('watch over 10,000 changes reads them in one pass, in version order, each once', async () => {
    const directory = temporaryDirectory('cliscale-watch-');
    const store = await openStore(directory);
    for (let i = 0; i < KEYS; i += 1_000) {
      // Descending batches: each pass of the catch-up goes over every run.
      await store.batch(Array.from({ length: 1_000 }, (_, j) => ({ type: 'put' as const, key: key(KEYS - 1 - i - j), value: i + j })));
      await store.checkpoint();
    }
    await store.close();

    const work = temporaryDirectory('cliscale-watch-preload-');
    const report = join(work, 'held.txt');
    const preload = join(work, 'report-held.mjs');
    const catchUp = pathToFileURL(join(dirname(command), '..', 'watch', 'catch-up.js')).href;
    writeFileSync(preload, `import { writeFileSync } from 'node:fs';\nimport { catchUpMemory } from ${JSON.stringify(catchUp)};\n`
      + `process.on('exit', () => writeFileSync(${JSON.stringify(report)}, String(catchUpMemory.changesHeldMax)));\n`);
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', pathToFileURL(preload).href, command, 'watch', directory, '--json'],
      { env: { ...process.env, LADYBUG_DEBUG: '' }, maxBuffer: 64 * 1024 * 1024 });
    expect(stderr).toBe('');
    const versions = stdout.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { version: number }).version);
    expect(versions).toHaveLength(KEYS);
    expect(versions.every((version, index) => index === 0 || version >= versions[index - 1]!)).toBe(true);
    const held = Number(readFileSync(report, 'utf8'));
    expect(held).toBeGreaterThan(2 * WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT);
    expect(held).toBe(KEYS);
  }, 30_000);
});
