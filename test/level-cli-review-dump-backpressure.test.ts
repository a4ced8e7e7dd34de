/**
 * `ladybug dump` (and watch) paced by its reader: stdout to a pipe is asynchronous in Node,
 * so a dump that wrote every line at once into a reader slower than the store (`| ssh host`,
 * a consumer that stalls) queued the whole store's output in the process's memory (a 30 MB
 * dump into a stalled pipe: 30 MB queued, RSS 173 MB), growing with the store until it ran
 * out of memory. Now a write that finds stdout's buffer full waits for it to drain. Checked on
 * the built command with a reader that does not read: the dump must not run to its end (its
 * store closed, the lock released) while nothing is read, then delivers every line, exit 0.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

afterEach(() => removeTemporaryDirectories());

const KEYS = 40_000;

/** The store's lock as the command wrote it: undefined until a lock of that pid is there. */
function lockOf(directory: string, pid: number): { released: boolean } | undefined {
  for (const name of readdirSync(directory).filter((entry) => entry.startsWith('LOCK.'))) {
    try {
      const lock = JSON.parse(readFileSync(join(directory, name), 'utf8')) as { pid: number; released: boolean };
      if (lock.pid === pid) return lock;
    } catch {
      // being rewritten: looked at again on the next poll
    }
  }
  return undefined;
}

describe('ladybug dump into a reader that does not read', () => {
  beforeAll(buildCli, 120_000);

  it('waits for the reader instead of queueing the store in memory, then delivers every line', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let start = 0; start < KEYS; start += 1000) {
      await store.batch(Array.from({ length: 1000 }, (_, index) => ({ type: 'put' as const, key: `key${String(start + index).padStart(6, '0')}`, value: 'v'.repeat(200) })));
    }
    await store.close();
    const child = spawn(process.execPath, [cliPath, 'dump', directory], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LADYBUG_DEBUG: '' } });
    child.stdout.pause();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Up to 6 s unread: 8.6 MB of lines cannot pass a pipe and the reader's 64 KiB buffer, so a
    // dump that got to its end meanwhile held them in memory. A slow machine only makes a
    // dump that would queue them look paced, never the other way round.
    let releasedUnread = false;
    for (let poll = 0; poll < 60 && !releasedUnread; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      releasedUnread = lockOf(directory, child.pid!)?.released === true;
    }
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => { for (const byte of chunk) if (byte === 10) lines++; });
    child.stdout.resume();
    expect(await exited, stderr).toBe(0);
    expect(releasedUnread, 'the dump ran to its end (store closed) with nothing read').toBe(false);
    expect(lines).toBe(KEYS);
    expect(lockOf(directory, child.pid!)?.released).toBe(true);
  }, 60_000);
});
