/**
 * In text output a binary key (bytes that are not UTF-8) prints as {"$bytes":"<hex>"}. A UTF-8
 * key spelled exactly that way printed the same line, so `ladybug dump` without --json showed
 * two keys the reader could not tell apart (--json always could: a string against an object).
 * A text key's leading '{' now prints as its JSON escape \u007b, so only a binary key's form
 * starts with a raw '{', and the text key still reads back exactly (JSON's escapes).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { keyText } from '../src/cli/output.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const BINARY = Uint8Array.of(0x6c, 0xff);
const LOOKALIKE = '{"$bytes":"6cff"}';

function unescape(text: string): string {
  return JSON.parse(`"${text.replace(/"/g, '\\"')}"`) as string;
}

describe('text output tells a text key spelled like a binary key from the binary key', () => {
  it('keyText escapes only a leading brace', () => {
    expect(keyText(LOOKALIKE)).toBe('\\u007b"$bytes":"6cff"}');
    expect(keyText('a{b}')).toBe('a{b}');
    expect(keyText({ $bytes: '6cff' })).toBe('{"$bytes":"6cff"}');
    expect(unescape(keyText(LOOKALIKE))).toBe(LOOKALIKE);
  });

  it('dump and watch print two different lines; --json unchanged', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { keyEncoding: 'binary' });
    await store.put(BINARY, 1);
    await store.put(new TextEncoder().encode(LOOKALIKE), 2);
    await store.close();

    const dump = await ladybug('dump', directory);
    expect(dump.code, dump.stderr).toBe(0);
    const keys = dump.stdout.split('\n').slice(0, -1).map((line) => line.split('\t')[0]!);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    expect(keys.filter((key) => key.startsWith('{'))).toEqual(['{"$bytes":"6cff"}']);
    expect(keys.filter((key) => !key.startsWith('{')).map(unescape)).toEqual([LOOKALIKE]);

    const watch = await ladybug('watch', directory);
    expect(watch.code, watch.stderr).toBe(0);
    const watchLines = watch.stdout.split('\n').slice(0, -1);
    expect(watchLines).toHaveLength(2);
    expect(new Set(watchLines.map((line) => line.split(' ')[2])).size).toBe(2);

    const json = await ladybug('dump', directory, '--json');
    const rows = json.stdout.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as { key: unknown }).key);
    expect(rows).toContainEqual(LOOKALIKE);
    expect(rows).toContainEqual({ $bytes: '6cff' });
  }, 60_000);
});
