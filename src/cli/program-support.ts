/**
 * The `ladybug` program's parts outside its commands (main.ts): the child process that runs
 * the benchmark and the crash-test harness, the package's version, and commander's argument
 * errors as one line. The relative paths resolve from dist/src/cli/, as main.js's did.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_FAILURE, UsageError } from './arguments.js';
import { printableJson } from './output.js';

/**
 * Runs a built script of this package in a child process with the forwarded arguments;
 * exits with its status. A script the installed package does not hold (the benchmark:
 * the package ships dist/src only) is a usage error, one line, not the child's stack trace.
 */
export function runScript(relativePath: string, forwarded: readonly string[], missing: string): void {
  const script = fileURLToPath(new URL(relativePath, import.meta.url));
  if (!existsSync(script)) throw new UsageError(`${missing} (${script} does not exist)`);
  const result = spawnSync(process.execPath, [script, ...forwarded], { stdio: 'inherit' });
  if (result.error !== undefined) throw new UsageError(`cannot run ${script}: ${result.error.message}`);
  process.exitCode = result.status ?? EXIT_FAILURE;
}

/** This package's version, from its package.json (two levels above dist/src/cli/). */
export function packageVersion(): string {
  try {
    const path = fileURLToPath(new URL('../../../package.json', import.meta.url));
    return String((JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown }).version);
  } catch {
    return 'unknown (package.json not found beside dist/)';
  }
}

/**
 * An argument error commander found ("error: unknown option '--jsn'", then on a second line
 * "(Did you mean --json?)"), as every other refusal prints: one line, "ladybug: ...".
 */
export function commanderErrorLine(text: string): string {
  return `ladybug: ${printableJson(text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' '))}\n`;
}
