/**
 * The built `ladybug` command (dist/src/cli/main.js) run as a real process, as a user
 * runs it: the exit status and both streams, whatever the status. LADYBUG_DEBUG is
 * cleared so a debug-mode test environment does not change the command's behaviour.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const projectRoot = join(import.meta.dirname, '..', '..');

/** The built command's entry point. */
export const cliPath = join(projectRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  /** The exit status: 0, or what the command set (1 failure, 2 usage, 3 damaged but restorable). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ladybug ...args` and resolves with its status and output; never rejects on a non-zero status. */
export async function ladybug(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/**
 * Builds dist/ (for beforeAll; npm test builds first, a lone vitest run does not). tsc
 * emits even when another file has a type error, so a transient one elsewhere is not
 * this test's failure: the status is ignored, what the command does is what is tested.
 */
export async function buildCli(): Promise<void> {
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: projectRoot }).catch(() => undefined);
}
