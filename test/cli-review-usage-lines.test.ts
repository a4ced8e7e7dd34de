/**
 * CLI review: the argument errors commander finds (an unknown option or command, a
 * missing or extra argument, an option without its value) exit 2 as README says, but
 * printed `error: unknown option '--jsn'` and, for a near miss, a second line
 * `(Did you mean --json?)`, where README gives every refusal as one line starting
 * `ladybug: ` (a script reading the first line, or matching the prefix, missed them).
 * They are now one line, `ladybug: unknown option '--jsn' (Did you mean --json?)`.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug: commander\'s argument errors', () => {
  it('are one line starting "ladybug: ", exit 2, nothing on stdout', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.put('k', 1);
    await store.close();
    const cases: Array<[string[], RegExp]> = [
      [['stats', directory, '--jsn'], /^ladybug: unknown option '--jsn' \(Did you mean --json\?\)$/],
      [['stat', directory], /^ladybug: unknown command 'stat' \(Did you mean stats\?\)$/],
      [['stats', directory, '--bogus'], /^ladybug: unknown option '--bogus'$/],
      [['get', directory], /^ladybug: missing required argument 'key'$/],
      [['get', directory, 'k', 'extra'], /^ladybug: too many arguments for 'get'/],
      [['get', directory, 'k', '--as-of'], /^ladybug: option '--as-of <version>' argument missing$/],
    ];
    for (const [args, line] of cases) {
      const result = await ladybug(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr.endsWith('\n'), args.join(' ')).toBe(true);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0], args.join(' ')).toMatch(line);
    }
    const help = await ladybug('stats', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ladybug stats/);
  });
});
