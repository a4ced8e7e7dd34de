/**
 * A command's one result over 1 MiB (ladybug get of a large value, text or --json) into a
 * reader that stops early (`| head -c 100`) ends quietly, exit 0, as README says of a reader
 * that stops early. 06d6e99 made writeOut return a promise once 1 MiB is queued for a slow
 * reader; printResult left it unhandled, so the reader's leaving rejected it and the process
 * died of the unhandled rejection: OutputClosedError's stack trace on stderr, exit 1.
 */
import { spawn } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

afterEach(() => removeTemporaryDirectories());

/** Runs the built command, closes its stdout after the first chunk; resolves with its status and stderr. */
function runClosingEarly(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LADYBUG_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout.once('data', () => child.stdout.destroy());
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('a large result into a reader that stops early', () => {
  beforeAll(buildCli, 120_000);

  it('get of a 3 MB value, text and --json: exit 0, nothing on stderr', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.put('big', 'line\n'.repeat(600_000));
    await store.close();
    for (const extra of [[], ['--json']]) {
      const result = await runClosingEarly(['get', directory, 'big', ...extra]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
  }, 60_000);
});
