/**
 * The `ladybug` command's exit statuses as the README states them: a missing store or a
 * bad argument exits 2, a failure of the work (a locked store, corruption) exits 1, each
 * with one line on stderr. Found wrong, as a new user meets them:
 * - `get --as-of v` and `dump --as-of v` with v past the store's version exited 1 with
 *   the API's "option asOf" error; `compact --retain-from v` raised the retention floor
 *   to the newest version, dropping every older version (exit 0);
 * - `--as-of ''` read as of version 0 and `--limit ' '` listed nothing, exit 0 (Number('') is 0);
 * - a key the store refuses (empty, over 1,024 bytes) and an option value it refuses
 *   (`compact --max-versions-per-key 0`, a backup target inside the store) exited 1;
 * - `backup` into a file, `restore` from a missing directory or a file, or into a file,
 *   exited 1 (an I/O error, or "backup incomplete" for a directory that does not exist);
 * - `leases list NAME` and `leases status NAME --prefix p` ignored NAME and p (exit 0);
 * - `ladybug --version` was an unknown option (exit 2).
 * None of these changes what the store holds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, type CliResult, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store at version 3: key `a` written twice, `b` once. */
async function smallStore(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  await store.put('a', 1);
  await store.put('b', 2);
  await store.put('a', 3);
  await store.close();
  return dir;
}

function expectUsage(result: CliResult, stderr: string | RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(typeof stderr === 'string' ? new RegExp(`^ladybug: .*${stderr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) : stderr);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
}

/** Every version of every key, as `dump` and `history` print them: unchanged by a refused command. */
async function contents(dir: string): Promise<string> {
  let printed = '';
  for (const key of ['a', 'b']) { // one at a time: each command holds the store's lock
    const result = await ladybug('history', dir, key, '--json');
    expect(result.code, result.stderr).toBe(0);
    printed += result.stdout;
  }
  return printed;
}

describe('ladybug: bad arguments exit 2', () => {
  it('a version past the store version: --as-of of get and dump, --retain-from of compact', async () => {
    const dir = await smallStore();
    const before = await contents(dir);
    expectUsage(await ladybug('get', dir, 'a', '--as-of', '4'), "--as-of 4 is past the store's newest version, 3");
    expectUsage(await ladybug('dump', dir, '--as-of', '99', '--json'), "--as-of 99 is past the store's newest version, 3");
    // Capped at the newest version, it raised the floor to 3 and dropped version 1 of `a` for good.
    expectUsage(await ladybug('compact', dir, '--retain-from', '99'), "--retain-from 99 is past the store's newest version, 3");
    expect(JSON.parse((await ladybug('get', dir, 'a', '--as-of', '1', '--json')).stdout)).toEqual({ key: 'a', version: 1, found: true, value: 1 });
    expect(JSON.parse((await ladybug('get', dir, 'a', '--as-of', '3', '--json')).stdout)).toEqual({ key: 'a', version: 3, found: true, value: 3 });
    expect(await contents(dir)).toBe(before);
  });

  it('blank or non-decimal numbers are not 0', async () => {
    const dir = await smallStore();
    expectUsage(await ladybug('get', dir, 'a', '--as-of', ''), 'not a version number: ""');
    expectUsage(await ladybug('history', dir, 'a', '--limit', ' '), 'not a count: " "');
    expectUsage(await ladybug('dump', dir, '--limit', '0x2'), 'not a count: "0x2"');
    expectUsage(await ladybug('watch', dir, '--since', '1.5'), 'not a version number: "1.5"');
  });

  it('a key or an option value the store refuses', async () => {
    const dir = await smallStore();
    const before = await contents(dir);
    expectUsage(await ladybug('get', dir, ''), '[LADYBUG_INVALID_KEY]');
    expectUsage(await ladybug('history', dir, 'k'.repeat(1025)), '[LADYBUG_INVALID_KEY]');
    expectUsage(await ladybug('compact', dir, '--max-versions-per-key', '0'), 'option maxVersionsPerKey');
    expectUsage(await ladybug('backup', dir, join(dir, 'inside')), '[LADYBUG_INVALID_OPTION]');
    expect(await contents(dir)).toBe(before);
  });

  it('backup and restore: a file where a directory is expected, a backup that does not exist', async () => {
    const dir = await smallStore();
    const file = join(temporaryDirectory(), 'file');
    writeFileSync(file, 'mine');
    expectUsage(await ladybug('backup', dir, file), `${file} is a file, not a directory`);
    expect(readFileSync(file, 'utf8')).toBe('mine');
    const missing = join(temporaryDirectory(), 'no-backup-here');
    expectUsage(await ladybug('restore', missing, join(temporaryDirectory(), 'target')), `no backup at ${missing}`);
    expectUsage(await ladybug('restore', file, join(temporaryDirectory(), 'target')), `${file} is a file, not a backup directory`);
    const backup = join(temporaryDirectory(), 'backup');
    expect((await ladybug('backup', dir, backup)).code).toBe(0);
    expectUsage(await ladybug('restore', backup, file), `${file} is a file, not a directory`);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });

  it('leases: a NAME given to list, --prefix given to status', async () => {
    const dir = await smallStore();
    expectUsage(await ladybug('leases', dir, 'list', 'job'), 'leases list takes no NAME (got job)');
    expectUsage(await ladybug('leases', dir, 'status', 'job', '--prefix', 'j'), '--prefix applies to leases list');
    expect((await ladybug('leases', dir, 'list', '--prefix', 'j')).code).toBe(0);
  });

  it('--version prints the package version, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await ladybug(flag)).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('ladybug: failures of the work still exit 1', () => {
  it('a locked store, and an as-of version compaction no longer keeps', async () => {
    const dir = await smallStore();
    const store = await openStore(dir);
    try {
      const locked = await ladybug('get', dir, 'a');
      expect(locked.code).toBe(1);
      expect(locked.stderr).toMatch(/^ladybug: store is locked .*\[LADYBUG_STORE_LOCKED\]\n$/);
    } finally {
      await store.close();
    }
    expect((await ladybug('compact', dir, '--retain-from', '3')).code).toBe(0);
    const notRetained = await ladybug('get', dir, 'a', '--as-of', '1');
    expect(notRetained.code).toBe(1);
    expect(notRetained.stderr).toMatch(/\[LADYBUG_VERSION_NOT_RETAINED\]\n$/);
  });
});
