/**
 * Shared by the cli-review tests: a store's files as bytes (to show a command wrote
 * nothing) and the checks every `ladybug` failure must pass (one line on stderr, no
 * stack trace, the typed error's code when the work failed).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from './support/cli-runner.js';

/**
 * Every file and directory under `directory` with its bytes (hex of a short digest would
 * do; the stores here are small), except the lock files `LOCK.<n>`, which README lets
 * even `verify` take and release.
 */
export function treeBytes(directory: string): Map<string, string> {
  const tree = new Map<string, string>();
  const walk = (relative: string): void => {
    const absolute = join(directory, relative);
    let names: string[];
    try {
      names = readdirSync(absolute).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      if (relative === '' && /^LOCK\.\d+$/.test(name)) continue;
      if (statSync(join(directory, path)).isDirectory()) {
        tree.set(`${path}/`, 'directory');
        walk(path);
      } else {
        tree.set(path, readFileSync(join(directory, path)).toString('base64'));
      }
    }
  };
  walk('');
  return tree;
}

/** The lines of stderr that are not Node's process warnings (a read's LADYBUG_BLOCK_REPAIRED says what it rebuilt). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line !== '' && !/^\(node:\d+\) /.test(line) && !line.startsWith('(Use `node --trace-warnings'));
}

/**
 * A failure of the work (exit 1 with nothing on stdout): one line, `ladybug: ... [LADYBUG_*]`,
 * the typed error's stable code, never a raw Node error or a stack trace.
 */
export function expectTypedFailure(result: CliResult, what: string): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(1);
  expect(result.stdout, what).toBe('');
  const lines = errorLines(result.stderr);
  expect(lines, `${what}: ${result.stderr}`).toHaveLength(1);
  expect(lines[0], what).toMatch(/^ladybug: .+ \[LADYBUG_[A-Z_]+\]$/);
}
