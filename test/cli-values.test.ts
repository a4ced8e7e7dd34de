/**
 * `ladybug get` and `ladybug history` print values in the lossless forms `dump` and
 * `watch` use (src/cli/output.ts, jsonForm), and `get` says whether the key was found.
 * They printed the JSON.stringify of the value with bytes as a bare hex string, bigints
 * as strings and NaN as null: the bytes [1, 2] and the string "0102" printed the same,
 * 123n and "123" the same, and NaN, a stored null and a missing key all as null.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

const VALUES: ReadonlyArray<[string, unknown, unknown]> = [
  ['bytes', new Uint8Array([1, 2]), { $bytes: '0102' }],
  ['string', '0102', '0102'],
  ['bigint', 123n, { $bigint: '123' }],
  ['numeric-string', '123', '123'],
  ['nan', Number.NaN, { $number: 'NaN' }],
  ['null', null, null],
  ['date', new Date(0), { $date: '1970-01-01T00:00:00.000Z' }],
  ['tag-like', { $bytes: '0102' }, { $object: { $bytes: '0102' } }],
];

async function storeOfValues(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  for (const [key, value] of VALUES) await store.put(key, value);
  await store.delete('string');
  await store.close();
  return dir;
}

async function json(...args: string[]): Promise<Record<string, unknown>> {
  const result = await ladybug(...args, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('ladybug get and history: values told apart', () => {
  it('get prints each value as dump does, and found', async () => {
    const dir = await storeOfValues();
    for (const [index, [key, , form]] of VALUES.entries()) {
      expect(await json('get', dir, key, '--as-of', String(index + 1)), key).toEqual({ key, version: index + 1, found: true, value: form });
    }
    expect(await json('get', dir, 'missing')).toEqual({ key: 'missing', version: VALUES.length + 1, found: false, value: null });
    expect(await json('get', dir, 'string')).toMatchObject({ found: false, value: null });
    const dumped = (await ladybug('dump', dir, '--json')).stdout.trim().split('\n').map((line) => JSON.parse(line) as { key: string; value: unknown });
    for (const { key, value } of dumped) expect((await json('get', dir, key)).value, key).toEqual(value);
  });

  it('history prints each version the same way, a delete with value null', async () => {
    const dir = await storeOfValues();
    expect(await json('history', dir, 'bytes')).toEqual({ key: 'bytes', versions: [{ version: 1, value: { $bytes: '0102' }, deleted: false }] });
    expect(await json('history', dir, 'string')).toEqual({
      key: 'string', versions: [{ version: VALUES.length + 1, value: null, deleted: true }, { version: 2, value: '0102', deleted: false }],
    });
    expect((await json('history', dir, 'bigint')).versions).toEqual([{ version: 3, value: { $bigint: '123' }, deleted: false }]);
  });
});
