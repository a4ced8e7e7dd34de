/**
 * The built `ladybug` command given missing or bad arguments: each subcommand exits with
 * README's status (2 for a bad argument or a missing store, 1 for a refusal of the work)
 * and says why in exactly one line on stderr starting with `ladybug: ` (a typed error's
 * code at its end where one refused it), never a stack trace, and the store's files are as
 * they were. `--help` prints the usage on stdout and exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { errorLines, treeBytes } from './cli-review-support.js';
import { buildCli, ladybug } from './support/cli-runner.js';

let root: string;
let store: string;
let file: string;

beforeAll(buildCli, 120_000);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'input-review-cli-'));
  store = join(root, 'store');
  file = join(root, 'file');
  writeFileSync(file, 'not a store');
  const opened = await openStore(store);
  await opened.put('a', 1);
  await opened.put('b', { two: 2 });
  await opened.close();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * [arguments, exit status, what the one stderr line says]; `S` stands for the store, `F` for a file, `M` for a missing path.
 * One or two cases per kind of refusal (each is a Node start-up).
 */
const CASES: [string[], number, RegExp][] = [
  [['bogus'], 2, /unknown command 'bogus'/],
  [['get'], 2, /missing required argument 'dir'/],
  [['get', 'M', 'a'], 2, /no ladybug store at /],
  [['get', 'S', ''], 2, /key must not be empty \[LADYBUG_INVALID_KEY\]/],
  [['get', 'S', 'k'.repeat(1100)], 2, /over the limit of 1024 bytes \[LADYBUG_INVALID_KEY\]/],
  [['get', 'S', 'a', '--as-of'], 2, /argument missing/],
  [['get', 'S', 'a', '--as-of', '99999999999999999999'], 2, /not a version number.*\[LADYBUG_INVALID_OPTION\]/],
  [['get', 'S', '--hex', 'zz'], 2, /not a key in hex/],
  [['history', 'S', 'a', '--limit', '1e3'], 2, /not a count.*\[LADYBUG_INVALID_OPTION\]/],
  [['dump', 'S', '--gte', ''], 2, /\[LADYBUG_INVALID_KEY\]/],
  [['stats', 'F'], 2, /no ladybug store at /],
  [['verify', 'F'], 2, /no ladybug store at /],
  [['scrub', 'S', '--bytes-per-second', '1.5'], 2, /--bytes-per-second.*\[LADYBUG_INVALID_OPTION\]/],
  [['compact', 'S', '--retain-from', '99'], 2, /past the store's newest version/],
  [['unlock', 'S'], 2, /pass --force/],
  [['backup', 'S'], 2, /missing required argument 'target'/],
  [['backup', 'S', 'S/runs'], 2, /inside the store directory.*\[LADYBUG_INVALID_OPTION\]/],
  [['restore', 'M', 'M2'], 2, /no backup at /],
  [['restore', 'S', 'M2'], 1, /\[LADYBUG_BACKUP\]/],
  [['leases', 'S', 'bogus'], 2, /unknown leases action/],
  [['watch', 'S', '--since', '5'], 2, /past the store's newest version/],
  [['crash-test', '--cycles', '-1'], 2, /crash-test/],
  [['crash-test', '--bogus'], 2, /crash-test/],
];

function resolved(argument: string): string {
  return argument.replace(/^S(?=\/|$)/, () => store).replace(/^F$/, () => file).replace(/^M2?$/, (name) => join(root, `missing-${name}`));
}

describe('ladybug with missing or bad arguments', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const result = await ladybug('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: ladybug /);
    expect(result.stderr).toBe('');
  });

  it('every subcommand: README\'s exit status, one clear line on stderr, no stack trace, the store unchanged', async () => {
    const before = treeBytes(store);
    const wrong: string[] = [];
    // Four processes at a time: the cases are independent, and each is a Node start-up.
    for (let start = 0; start < CASES.length; start += 4) {
      await Promise.all(CASES.slice(start, start + 4).map(async ([args, status, says]) => {
        const result = await ladybug(...args.map(resolved));
        const lines = errorLines(result.stderr);
        const shown = `ladybug ${args.join(' ').slice(0, 60)}`;
        if (result.code !== status) wrong.push(`${shown}: exit ${result.code}, expected ${status} (${result.stderr.slice(0, 200)})`);
        if (lines.length !== 1) wrong.push(`${shown}: ${lines.length} lines on stderr: ${JSON.stringify(result.stderr.slice(0, 400))}`);
        else if (!lines[0]!.startsWith('ladybug: ') || !says.test(lines[0]!)) wrong.push(`${shown}: stderr ${JSON.stringify(lines[0])}, expected ${says}`);
        if (/\n\s+at /.test(result.stderr)) wrong.push(`${shown}: a stack trace on stderr`);
        if (result.stdout !== '') wrong.push(`${shown}: printed ${JSON.stringify(result.stdout.slice(0, 100))} on stdout`);
      }));
    }
    expect(wrong).toEqual([]);
    expect(treeBytes(store)).toEqual(before);
  }, 120_000);
});
