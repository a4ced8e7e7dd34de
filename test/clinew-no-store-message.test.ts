/**
 * `ladybug` given a path that holds no store: one that does not exist (a typo), a regular file,
 * an empty directory. Every command said "no ladybug store at PATH" (exit 2) and no more: not
 * which of the three it was, nor what a store's directory is. The line now says which and what
 * to give instead; the status stays 2 and nothing is created at the path.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { errorLines } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const WHAT_TO_GIVE = "give the directory the store was created in (the path given to openStore), which holds wal/ and manifest/";

describe('ladybug on a path that holds no store', () => {
  it('missing, a file, an empty directory: exit 2, one line saying which and what to give', async () => {
    const root = temporaryDirectory();
    const missing = join(root, 'missing');
    const file = join(root, 'file');
    writeFileSync(file, 'not a store');
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const cases: Array<[string, string]> = [
      [missing, `no ladybug store at ${missing}: no such file or directory; ${WHAT_TO_GIVE}`],
      [file, `no ladybug store at ${file}: it is a file; ${WHAT_TO_GIVE}`],
      [empty, `no ladybug store at ${empty}: the directory holds no wal/ or manifest/; ${WHAT_TO_GIVE}`],
    ];
    const commands = [['stats'], ['verify'], ['repair', '--dry-run'], ['get', '@', 'k'], ['unlock', '@', '--force'], ['backup', '@', join(root, 'copy')]];
    const runs = cases.flatMap(([path, line]) => commands.map((command) => {
      const args = command.includes('@') ? command.map((arg) => (arg === '@' ? path : arg)) : [command[0]!, path, ...command.slice(1)];
      return { args, line };
    }));
    const results = await Promise.all(runs.map(({ args }) => ladybug(...args))); // none writes: they may run together
    for (const [index, { args, line }] of runs.entries()) {
      const result = results[index]!;
      const what = args.join(' ');
      expect(result.code, `${what}: ${result.stderr}`).toBe(2);
      expect(result.stdout, what).toBe('');
      expect(errorLines(result.stderr), what).toEqual([`ladybug: ${line}`]);
    }
    expect(existsSync(missing)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('not a store');
    expect(readdirSync(empty)).toEqual([]);
    expect(readdirSync(root).sort()).toEqual(['empty', 'file']);
  });
});
