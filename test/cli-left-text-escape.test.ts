/**
 * `ladybug` text output escapes what is not printable. dump, watch, get and history printed
 * key and value bytes raw: a key holding a newline or a tab forged a line or a column of
 * dump's output, one holding ESC [2J cleared the terminal, a bidi override (U+202E)
 * reversed what followed, and a string value's C1 controls, DEL and U+2028 passed
 * through JSON.stringify untouched. Text output now writes a backslash as \\, a newline,
 * return and tab as \n \r \t and every other control, format or separator character as
 * \uXXXX (JSON's escapes), so every key prints on its own line and reads back exactly;
 * --json stays exact (every key byte round-trips: a UTF-8 key as its string, another as
 * {"$bytes": hex}).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const KEYS = [
  'a\nforged 1', 'b\tforged column', 'c\x1b[2J', 'd\\n not a newline', 'e\u202eevil', 'f\u0085next line', 'g\u2028separator',
  'h\x7fdelete', 'i\u200bzero width', '\ufeffj with a BOM', 'k plain',
];
const BINARY = Uint8Array.of(0x6c, 0xff, 0x0a, 0x1b);
const VALUE = 'v\x1b]0;title\x07\u009b31m\u2028\x7f\n';
/** What text output must never hold: a control (C0, DEL, C1), format or separator character, except a line's end (and dump's one tab). */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** The text form read back: JSON's escapes are the text escapes. */
function unescape(text: string): string {
  return JSON.parse(`"${text.replace(/"/g, '\\"')}"`) as string;
}

async function storeWithHostileKeys(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { keyEncoding: 'binary' });
  for (const key of KEYS) await store.put(new TextEncoder().encode(key), VALUE);
  await store.put(BINARY, 1);
  await store.close();
  return directory;
}

describe('ladybug text output escapes unprintable key and value characters', () => {
  it('dump and watch: one line per key, nothing unprintable, each key read back exactly; --json exact', async () => {
    const directory = await storeWithHostileKeys();
    const textKeys = [...KEYS].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const dump = await ladybug('dump', directory);
    expect(dump.code, dump.stderr).toBe(0);
    const dumpLines = dump.stdout.split('\n').slice(0, -1);
    expect(dumpLines).toHaveLength(KEYS.length + 1);
    for (const line of dumpLines) expect(line.replace('\t', ' '), JSON.stringify(line)).not.toMatch(UNPRINTABLE);
    const dumped = dumpLines.map((line) => line.split('\t'));
    for (const fields of dumped) expect(fields).toHaveLength(2);
    expect(dumped.filter(([key]) => !key!.startsWith('{')).map(([key]) => unescape(key!))).toEqual(textKeys);
    expect(dumped.find(([key]) => key!.startsWith('{'))![0]).toBe('{"$bytes":"6cff0a1b"}');
    expect(JSON.parse(dumped[0]![1]!)).toBe(VALUE);

    const watch = await ladybug('watch', directory);
    expect(watch.code, watch.stderr).toBe(0);
    const watchLines = watch.stdout.split('\n').slice(0, -1);
    expect(watchLines).toHaveLength(KEYS.length + 1);
    for (const line of watchLines) expect(line, JSON.stringify(line)).not.toMatch(UNPRINTABLE);

    const json = await ladybug('dump', directory, '--json');
    const rows = json.stdout.split('\n').slice(0, -1).map((line) => JSON.parse(line) as { key: unknown; value: unknown });
    const binary = Buffer.from(BINARY);
    const expected = [...KEYS.map((key) => Buffer.from(key)), binary].sort(Buffer.compare)
      .map((key) => (key.equals(binary) ? { $bytes: '6cff0a1b' } : key.toString('utf8')));
    expect(rows.map((row) => row.key)).toEqual(expected);
    expect(rows[0]!.value).toBe(VALUE);
    const watchJson = await ladybug('watch', directory, '--json');
    expect(watchJson.stdout.split('\n').slice(0, -1).map((line) => (JSON.parse(line) as { key: unknown }).key).filter((key) => typeof key === 'string').sort())
      .toEqual([...KEYS].sort());
  }, 60_000);

  it('get and history: the key in the title and the value escaped', async () => {
    const directory = await storeWithHostileKeys();
    for (const command of ['get', 'history']) {
      const result = await ladybug(command, directory, 'c\x1b[2J');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split('\n')[0]).toBe(`${command} c\\u001b[2J`);
      for (const line of result.stdout.split('\n').slice(0, -1)) expect(line, JSON.stringify(line)).not.toMatch(UNPRINTABLE);
      expect(result.stdout).toContain('v\\u001b]0;title\\u0007\\u009b31m\\u2028\\u007f\\n');
    }
  }, 60_000);
});
