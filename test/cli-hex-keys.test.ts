/**
 * `ladybug get`, `history` and `dump`'s bounds take a key as the hex of its bytes with
 * `--hex`. dump prints a key whose bytes are not UTF-8 as {"$bytes": "<hex>"}, and no
 * argument could address such a key afterwards: `get <dir> ff01` read the two-character
 * string key "ff01" (found: false), so a key the dump listed could not be read, nor its
 * history, nor a dump started at it. A bad hex argument is a usage error (exit 2), not a
 * shorter key (Buffer.from('ff0', 'hex') is one byte).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const BINARY_KEY = Uint8Array.of(0xff, 0x01);

async function storeWithBinaryKey(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  await store.put(BINARY_KEY, 'first');
  await store.put('abc', 'text');
  await store.put(BINARY_KEY, 'second');
  await store.put(Uint8Array.of(0xfe), 'below');
  await store.close();
  return dir;
}

async function json(...args: string[]): Promise<Record<string, unknown>> {
  const result = await ladybug(...args, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('ladybug: keys given in hex', () => {
  it('get and history read a key that dump printed as {"$bytes": hex}', async () => {
    const dir = await storeWithBinaryKey();
    const dumped = (await ladybug('dump', dir, '--json')).stdout.trim().split('\n').map((line) => JSON.parse(line) as { key: unknown; value: unknown });
    expect(dumped).toContainEqual({ key: { $bytes: 'ff01' }, value: 'second' });
    expect(await json('get', dir, 'ff01', '--hex')).toEqual({ key: { $bytes: 'ff01' }, version: 4, found: true, value: 'second' });
    expect(await json('get', dir, 'FF01', '--hex', '--as-of', '2')).toEqual({ key: { $bytes: 'ff01' }, version: 2, found: true, value: 'first' });
    expect(await json('history', dir, 'ff01', '--hex')).toEqual({
      key: { $bytes: 'ff01' },
      versions: [{ version: 3, value: 'second', deleted: false }, { version: 1, value: 'first', deleted: false }],
    });
    // A UTF-8 key in hex is the string key, printed as dump prints it.
    expect(await json('get', dir, '616263', '--hex')).toEqual({ key: 'abc', version: 4, found: true, value: 'text' });
    // Without --hex the argument is the string key it spells.
    expect(await json('get', dir, 'ff01')).toEqual({ key: 'ff01', version: 4, found: false, value: null });
  });

  it('dump takes its bounds in hex', async () => {
    const dir = await storeWithBinaryKey();
    const lines = (await ladybug('dump', dir, '--json', '--hex', '--gte', 'ff', '--lt', 'ff02')).stdout.trim().split('\n');
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([{ key: { $bytes: 'ff01' }, value: 'second' }]);
  });

  it('a bad hex key is a usage error, and nothing is read as a shorter key', async () => {
    const dir = await storeWithBinaryKey();
    for (const bad of ['ff0', 'zz', 'ff 01', '0xff01']) {
      const result = await ladybug('get', dir, bad, '--hex');
      expect(result.code, bad).toBe(2);
      expect(result.stderr, bad).toContain('not a key in hex');
      expect(result.stdout, bad).toBe('');
    }
    expect((await ladybug('dump', dir, '--hex', '--gte', 'f')).code).toBe(2);
  });
});
