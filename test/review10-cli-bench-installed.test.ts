/**
 * Review 10 (a new user's CLI): the installed package holds dist/src only (package.json
 * "files"), so `npx ladybug bench` had no dist/bench/main.js to run and printed node's
 * MODULE_NOT_FOUND stack trace with exit 1; the README promises one line on stderr and
 * never a stack trace. The built command is run here from a directory laid out as the
 * installed package is (dist/src, package.json, node_modules; no dist/bench), through
 * symbolic links kept as links so that its own URL points there.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli } from './support/cli-runner.js';

const root = join(import.meta.dirname, '..');

afterAll(() => removeTemporaryDirectories());
beforeAll(buildCli, 120_000);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function installedLadybug(packageDirectory: string, ...args: string[]): Promise<Outcome> {
  const main = join(packageDirectory, 'dist', 'src', 'cli', 'main.js');
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', main, ...args],
      { encoding: 'utf8', env: { ...process.env, LADYBUG_DEBUG: '' } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('review10: ladybug bench in the installed package', () => {
  it('is a usage error on one line (exit 2), not a stack trace', async () => {
    const installed = temporaryDirectory('ladybug-installed-');
    mkdirSync(join(installed, 'dist'));
    symlinkSync(join(root, 'dist', 'src'), join(installed, 'dist', 'src'), 'dir');
    symlinkSync(join(root, 'node_modules'), join(installed, 'node_modules'), 'dir');
    copyFileSync(join(root, 'package.json'), join(installed, 'package.json'));

    const bench = await installedLadybug(installed, 'bench', '--quick');
    expect(bench.code).toBe(2);
    expect(bench.stderr).toMatch(/^ladybug: the benchmark is not part of the installed package: run it from a clone of the repository/);
    expect(bench.stderr.trim().split('\n')).toHaveLength(1);
    expect(bench.stderr).not.toMatch(/MODULE_NOT_FOUND|\n\s+at /);

    // The same layout runs the commands the package does hold.
    const version = await installedLadybug(installed, '--version');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  }, 120_000);
});
