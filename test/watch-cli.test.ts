/**
 * `ladybug leases` and `ladybug watch` (built CLI): text and JSON render the same
 * result object, so they apply the same expiry filter; the watch prints one change
 * per line in version order.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

async function ladybug(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cli, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' } });
  return stdout;
}

beforeAll(async () => {
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: join(import.meta.dirname, '..') }).catch(() => undefined); // others' transient errors: tsc still emits
}, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug leases and watch', () => {
  it('leases list and status: text and JSON agree, and a lease of an earlier open shows as absent in both', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.leases.acquire('jobs/a', { owner: 'w1', ttlMs: 60_000 });
    await store.close();
    const json = JSON.parse(await ladybug('leases', dir, 'list', '--json')) as { leases: unknown[] };
    const text = await ladybug('leases', dir, 'list');
    expect(json.leases).toEqual([]);
    expect(text).not.toContain('jobs/a');
    const status = JSON.parse(await ladybug('leases', dir, 'status', 'jobs/a', '--json')) as { holder: unknown };
    expect(status.holder).toBeNull();
    expect(await ladybug('leases', dir, 'status', 'jobs/a')).not.toContain('w1');
  }, 60_000);

  it('watch prints every change after --since, in version order, as text and as JSON lines', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('p/1', 'one');
    await store.put('q/1', 'other');
    await store.delete('p/1');
    await store.put('p/2', { n: 2 });
    await store.close();
    const lines = (await ladybug('watch', dir, '--prefix', 'p/', '--json')).trim().split('\n').map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual([
      { version: 1, key: 'p/1', deleted: false, value: 'one' },
      { version: 3, key: 'p/1', deleted: true, value: null },
      { version: 4, key: 'p/2', deleted: false, value: { n: 2 } },
    ]);
    expect((await ladybug('watch', dir, '--since', '1')).trim().split('\n')).toEqual(['2 put q/1 "other"', '3 delete p/1', '4 put p/2 {"n":2}']);
  }, 60_000);
});
