/**
 * New-user review: `ladybug watch <dir> --since N` with N past the store's newest version
 * exited 0 with no output, as if there had been no change, though the range asked for
 * cannot be read: without --follow the feed ends at the newest version, and while the
 * command holds the store nobody else can commit. It is now a bad argument, as `--as-of`
 * past the newest version is for get and dump: one line on stderr, exit 2, the store
 * closed. --since equal to the newest version is "caught up" (no output, exit 0), and
 * with --follow a --since past the newest version waits for the versions after it, as
 * store.watch({ sinceVersion }) does.
 *
 * Runs the built command (dist/src/cli/main.js; built in beforeAll).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store whose newest version is 3. */
async function storeAtVersion3(): Promise<string> {
  const dir = temporaryDirectory('ladybug-watch-since-');
  const store = await openStore(dir);
  await store.put('a', 1);
  await store.put('b', 2);
  await store.put('a', 3);
  await store.close();
  return dir;
}

function lockReleased(dir: string): boolean {
  const newest = readdirSync(dir).filter((name) => /^LOCK\.\d+$/.test(name)).sort().at(-1)!;
  return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { released: boolean }).released;
}

describe('ladybug watch --since past the newest version', () => {
  it('without --follow: a usage error (exit 2, one line on stderr, no output), text and JSON alike', async () => {
    const dir = await storeAtVersion3();
    for (const args of [['--since', '4'], ['--since', '99', '--json'], ['--since', '4', '--prefix', 'a']]) {
      const result = await ladybug('watch', dir, ...args);
      expect(result).toEqual({ code: 2, stdout: '', stderr: `ladybug: --since ${args[1]} is past the store's newest version, 3\n` });
    }
    expect(lockReleased(dir)).toBe(true);
  }, 60_000);

  it('--since the newest version is caught up: no output, exit 0; one below prints the last change', async () => {
    const dir = await storeAtVersion3();
    expect(await ladybug('watch', dir, '--since', '3')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await ladybug('watch', dir, '--since', '2')).toEqual({ code: 0, stdout: '3 put a 3\n', stderr: '' });
  }, 60_000);

  it('with --follow: waits for the versions after it (no error) until SIGTERM, then exit 0', async () => {
    const dir = await storeAtVersion3();
    const child = spawn(process.execPath, [cliPath, 'watch', dir, '--since', '10', '--follow'], { env: { ...process.env, LADYBUG_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // Opened and waiting once its lock says so.
    const held = (): boolean => {
      try {
        return !lockReleased(dir);
      } catch {
        return false; // a lock file being written
      }
    };
    while (!held()) {
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    await sleep(500);
    expect(child.exitCode).toBe(null);
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect({ stdout, stderr }).toEqual({ stdout: '', stderr: '' });
    expect(lockReleased(dir)).toBe(true);
  }, 60_000);
});
