/**
 * `ladybug --debug <command>` turns on the store's debug mode (src/util/debug.ts: lock-order
 * checks, full consistency checks) for the command, as LADYBUG_DEBUG=1 does; without it (and
 * with LADYBUG_DEBUG empty) debug mode stays off. `--help` lists the option.
 *
 * The built command runs with a preload module that imports the same debug.js the command
 * uses (one module instance per URL) and prints debugEnabled() at exit.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

const run = promisify(execFile);
afterAll(() => removeTemporaryDirectories());
beforeAll(async () => {
  if (!existsSync(cliPath)) await buildCli();
}, 120_000);

async function debugModeOf(args: string[], environment: Record<string, string> = {}): Promise<{ debug: string; stdout: string }> {
  const probe = join(temporaryDirectory('tidy-debug-probe-'), 'probe.mjs');
  const debugModule = pathToFileURL(join(cliPath, '..', '..', 'util', 'debug.js')).href;
  writeFileSync(probe, `import { debugEnabled } from ${JSON.stringify(debugModule)};\nprocess.on('exit', () => process.stderr.write('debug=' + debugEnabled() + '\\n'));\n`);
  const { stdout, stderr } = await run(process.execPath, ['--import', pathToFileURL(probe).href, cliPath, ...args], {
    env: { ...process.env, LADYBUG_DEBUG: '', ...environment },
  });
  return { debug: /debug=(\w+)/.exec(stderr)?.[1] ?? `no probe line in ${stderr}`, stdout };
}

describe('ladybug --debug', () => {
  let directory: string;
  beforeAll(async () => {
    directory = temporaryDirectory('tidy-debug-');
    const store = await openStore(directory);
    await store.put('a', 1);
    await store.close();
  });

  it('turns debug mode on for the command, before or after the command name', async () => {
    expect((await debugModeOf(['--debug', 'get', directory, 'a'])).debug).toBe('true');
    const after = await debugModeOf(['get', directory, 'a', '--debug']);
    expect(after.debug).toBe('true');
    expect(after.stdout).toContain('1');
  }, 30_000);

  it('leaves it off without the option (LADYBUG_DEBUG empty), on with LADYBUG_DEBUG=1', async () => {
    expect((await debugModeOf(['get', directory, 'a'])).debug).toBe('false');
    expect((await debugModeOf(['get', directory, 'a'], { LADYBUG_DEBUG: '1' })).debug).toBe('true');
  }, 30_000);

  it('--help lists it with what it does', async () => {
    const { stdout } = await run(process.execPath, [cliPath, '--help'], { env: { ...process.env, LADYBUG_DEBUG: '' } });
    expect(stdout).toMatch(/--debug\s+.*debug mode/);
  }, 30_000);
});
