/**
 * `ladybug crash-test` refuses a bad argument as every other ladybug command does: exit 2
 * and one line on stderr starting `ladybug: `, a malformed number with the option named
 * and LADYBUG_INVALID_OPTION. It printed two lines, the bare message ("--cycles must be a
 * non-negative integer, got 1e3", or parseArgs' "Unknown option ...") and then the usage,
 * neither with the prefix nor a code. The grammar of its numbers was already the one of
 * the other commands (decimal digits only); it is now the same parser's message too.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

function expectOneLine(result: { code: number; stdout: string; stderr: string }, what: string, pattern: RegExp): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(2);
  expect(result.stdout, what).toBe('');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  expect(lines, `${what}: ${result.stderr}`).toHaveLength(1);
  expect(lines[0], what).toMatch(pattern);
}

describe('ladybug crash-test: bad arguments', () => {
  it('a malformed number is one coded line naming the option, exit 2, before anything runs', async () => {
    for (const flag of ['--cycles', '--seed', '--kill-after-ms-min', '--kill-after-ms-max', '--memory-budget-bytes', '--segment-size-bytes']) {
      for (const text of ['0x10', '1e3', ' 16', '']) {
        expectOneLine(await ladybug('crash-test', flag, text), `${flag} ${JSON.stringify(text)}`,
          new RegExp(`^ladybug: option ${flag}: .+ \\[LADYBUG_INVALID_OPTION\\]$`));
      }
    }
  }, 120_000);

  it('an unknown option or mode is one line starting ladybug:, exit 2', async () => {
    expectOneLine(await ladybug('crash-test', '--jsn'), '--jsn', /^ladybug: crash-test: .*'--jsn'/);
    expectOneLine(await ladybug('crash-test', '--mode', 'flood'), '--mode flood', /^ladybug: option --mode: .*kill, power-loss.* \[LADYBUG_INVALID_OPTION\]$/);
  }, 60_000);
});
