/**
 * The `ladybug` CLI as a user meets it, run as a real process from the build:
 * - `watch --prefix p` delivers every key that starts with p: the bound was the string
 *   `p + "\uffff"`, which left out keys whose next character is U+FFFF or above it
 *   (4-byte UTF-8) and binary keys whose next byte is 0xf0 or more, silently;
 * - `watch` prints binary keys as `dump` does ({"$bytes": hex}) instead of stopping
 *   with LADYBUG_KEY_NOT_UTF8 (exit 1) at the first key that is not UTF-8;
 * - `verify` of a damaged WAL says what `repair` would drop, and `repair --dry-run`
 *   says it without changing a byte (repair keeps the valid prefix: one flipped byte
 *   cost 288 of 300 commits here, with no word of it before they were gone);
 * - `scrub --bytes-per-second abc` is a usage error (exit 2) before the store is
 *   opened, as the other numeric options are (it opened the store, then exit 1).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { flipByte } from './review4-damage.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** Keys at the edges of the prefix "p": U+FFFF and an astral character next, binary bytes 0xf5 and 0xff next, and "q" after it. */
async function storeWithEdgeKeys(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  await store.put('p/a', 1);
  await store.put('p\u{1F600}', 2);
  await store.put('p\uffff', 3);
  await store.put(new Uint8Array([0x70, 0xf5]), 4);
  await store.put(new Uint8Array([0x70, 0xff, 0xff]), 5);
  await store.put('q', 6);
  await store.put(new Uint8Array([0xff, 0x01]), 7);
  await store.close();
  return dir;
}

describe('ladybug watch', () => {
  it('--prefix delivers every key starting with the prefix, astral, U+FFFF and binary next characters included', async () => {
    const dir = await storeWithEdgeKeys();
    const result = await ladybug('watch', dir, '--prefix', 'p', '--json');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
      { version: 1, key: 'p/a', deleted: false, value: 1 },
      { version: 2, key: 'p\u{1F600}', deleted: false, value: 2 },
      { version: 3, key: 'p\uffff', deleted: false, value: 3 },
      { version: 4, key: { $bytes: '70f5' }, deleted: false, value: 4 },
      { version: 5, key: { $bytes: '70ffff' }, deleted: false, value: 5 },
    ]);
    const text = await ladybug('watch', dir, '--prefix', 'p');
    expect(text.stdout.trim().split('\n')).toEqual(['1 put p/a 1', '2 put p\u{1F600} 2', '3 put p\uffff 3', '4 put {"$bytes":"70f5"} 4', '5 put {"$bytes":"70ffff"} 5']);
  });

  it('prints keys that are not UTF-8 as dump does instead of stopping at them', async () => {
    const dir = await storeWithEdgeKeys();
    const result = await ladybug('watch', dir, '--since', '5');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(['6 put q 6', '7 put {"$bytes":"ff01"} 7']);
  });
});

describe('ladybug verify and repair --dry-run on a damaged WAL', () => {
  it('verify names what repair would drop; repair --dry-run says the same and changes nothing; repair then drops exactly that', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir, { segmentSizeBytes: 64 * 1024, checkpointOnClose: false });
    for (let index = 0; index < 300; index++) await store.put(`key-${String(index).padStart(3, '0')}`, { index, pad: 'x'.repeat(200) });
    await store.close();
    const segments = readdirSync(join(dir, 'wal')).filter((name) => name.startsWith('wal-')).sort();
    flipByte(join(dir, 'wal', segments[0]!), 3000);
    const walBytes = (): string[] => segments.map((name) => readFileSync(join(dir, 'wal', name)).toString('hex'));
    const before = walBytes();

    const verify = await ladybug('verify', dir);
    expect(verify.code).toBe(1);
    const title = verify.stdout.split('\n')[0]!;
    expect(title).toMatch(/^verify: CORRUPTION FOUND; ladybug repair would drop (\d+) commits \(versions (\d+)-300\)/);
    const verifyJson = JSON.parse((await ladybug('verify', dir, '--json')).stdout) as { commits: number; walRepairWouldDrop: { droppedVersions: { first: number } } };
    expect(verifyJson.walRepairWouldDrop.droppedVersions.first).toBe(verifyJson.commits + 1);

    const dryRun = await ladybug('repair', dir, '--dry-run', '--json');
    expect(dryRun.code).toBe(1);
    const predicted = (JSON.parse(dryRun.stdout) as { walRepairWouldDrop: unknown }).walRepairWouldDrop;
    expect(predicted).toEqual(verifyJson.walRepairWouldDrop);
    expect(walBytes()).toEqual(before);

    const repair = await ladybug('repair', dir, '--json');
    expect(repair.code).toBe(0);
    expect((JSON.parse(repair.stdout) as { repair: unknown }).repair).toEqual(predicted);
    expect((await ladybug('repair', dir, '--dry-run')).stdout.split('\n')[0]).toBe('repair --dry-run: nothing to drop from the WAL');
  });
});

describe('ladybug scrub --bytes-per-second', () => {
  it('a rate that is not a positive number is a usage error, exit 2, store not opened', async () => {
    const dir = await storeWithEdgeKeys();
    for (const rate of ['abc', '0', '-5', '']) {
      const result = await ladybug('scrub', dir, '--bytes-per-second', rate);
      expect(result.code, rate).toBe(2);
      expect(result.stderr, rate).toMatch(/^ladybug: option --bytes-per-second: not a positive rate.*\[LADYBUG_INVALID_OPTION\]\n$/);
    }
    expect((await ladybug('scrub', dir, '--bytes-per-second', '1000000000')).code).toBe(0);
  });
});
