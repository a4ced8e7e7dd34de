/**
 * `ladybug`'s numeric options share one grammar: decimal digits only (no sign, no blank,
 * no fraction, no exponent, no hex, no trailing text), a safe integer, in the option's
 * range. `scrub --bytes-per-second` read its value with Number(), so '0x10' (16 B/s),
 * '1e3', ' 16', '16 ' and '1.5' were rates. Each refusal is exit 2, one line
 * `ladybug: option --flag: ... [LADYBUG_INVALID_OPTION]`, before the store is opened:
 * no file of the store changes.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { errorLines, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const MALFORMED = ['0x10', '1e3', ' 16', '16 ', '16abc', '1.5', '+16', '-1', '', '1_000', '99999999999999999999'];

describe('ladybug: one grammar for integer options', () => {
  it('every numeric option refuses what is not decimal digits, exit 2 with a code, the store untouched', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { checkpointOnClose: false });
    for (let index = 0; index < 20; index++) await store.put(`k${index}`, index);
    await store.close(); // the commits stay in the WAL: an open and close would move them into a run
    const before = treeBytes(directory);
    const commands: Array<[string[], string]> = [
      [['scrub', directory], '--bytes-per-second'],
      [['compact', directory], '--max-versions-per-key'],
      [['compact', directory], '--retain-versions-ms'],
      [['compact', directory], '--retain-from'],
      [['get', directory, 'k1'], '--as-of'],
      [['history', directory, 'k1'], '--limit'],
      [['dump', directory], '--limit'],
      [['dump', directory], '--as-of'],
      [['watch', directory], '--since'],
    ];
    for (const [command, flag] of commands) {
      for (const text of MALFORMED) {
        const what = `${command[0]} ${flag} ${JSON.stringify(text)}`;
        const result = await ladybug(...command, flag, text);
        expect(result.code, `${what}: ${result.stderr}`).toBe(2);
        expect(result.stdout, what).toBe('');
        const lines = errorLines(result.stderr);
        expect(lines, `${what}: ${result.stderr}`).toHaveLength(1);
        expect(lines[0], what).toMatch(new RegExp(`^ladybug: option ${flag}: .+ \\[LADYBUG_INVALID_OPTION\\]$`));
        expect(treeBytes(directory), `${what}: files changed`).toEqual(before);
      }
    }
    const scrub = await ladybug('scrub', directory, '--bytes-per-second', '16000000', '--json');
    expect(scrub.code, scrub.stderr).toBe(0);
    expect(JSON.parse(scrub.stdout)).toMatchObject({ unrecoverable: [] });
  }, 120_000);
});
