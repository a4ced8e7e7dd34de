/**
 * New-user review: `ladybug watch <dir> --follow | head -1` on an idle store hung. After
 * head exited the watch kept waiting: it learned that its reader was gone only from its
 * next write (EPIPE), and on an idle store no write comes, so the shell's pipeline never
 * ended and the store stayed open, its lock held. The command now asks, while it waits,
 * whether stdout's reader is still there (stdout-reader.ts) and ends as a reader stopping
 * early always ended it: the feed stops, the store is closed (lock released), exit 0,
 * nothing on stderr. Both kinds of stdout a reader can close: a shell's pipe, and the
 * socket pair child_process gives a child. While the reader stays, the watch stays.
 *
 * Runs the built command (dist/src/cli/main.js; built in beforeAll).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A hang is told from an exit by this bound (the watch notices a closed reader within a fraction of a second). */
const HANG_MS = 20_000;
const env = { ...process.env, LADYBUG_DEBUG: '' };

async function storeOfOneChange(): Promise<string> {
  const dir = temporaryDirectory('ladybug-watch-reader-');
  const store = await openStore(dir);
  await store.put('a', 1);
  await store.close();
  return dir;
}

/** The newest lock generation's `released`: true once the store was closed. */
function lockReleased(dir: string): boolean {
  const newest = readdirSync(dir).filter((name) => /^LOCK\.\d+$/.test(name)).sort().at(-1)!;
  return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { released: boolean }).released;
}

/** The child's exit, or 'hung' when it has not exited within HANG_MS (then its process group is killed). */
async function exitOrHang(child: ChildProcess, group: boolean): Promise<{ code: number | null; signal: string | null } | 'hung'> {
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const outcome = await Promise.race([exited, sleep(HANG_MS, 'hung' as const)]);
  if (outcome === 'hung') {
    if (group) process.kill(-child.pid!, 'SIGKILL');
    else child.kill('SIGKILL');
    await exited;
  }
  return outcome;
}

/** Resolves with what the stream carried once it holds `lines` newline-ended lines. */
function firstLines(stream: NodeJS.ReadableStream, lines: number): Promise<string> {
  let text = '';
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.split('\n').length > lines) resolve(text);
    });
  });
}

describe('ladybug watch --follow: a reader gone while the store is idle ends the command', () => {
  it('a shell pipe to head -1: the pipeline ends, exit 0, the store closed', async () => {
    const dir = await storeOfOneChange();
    // The shell waits for both ends of the pipe; ladybug's own status is told on stderr after its (empty) stderr.
    const script = '{ "$0" "$1" watch "$2" --follow; echo "ladybug exited $?" >&2; } | head -1';
    const child = spawn('/bin/sh', ['-c', script, process.execPath, cliPath, dir], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const printed = firstLines(child.stdout, 1);
    expect(await exitOrHang(child, true)).toEqual({ code: 0, signal: null });
    expect(await printed).toBe('1 put a 1\n');
    expect(stderr).toBe('ladybug exited 0\n');
    expect(lockReleased(dir)).toBe(true);
  }, 60_000);

  it('a socket pair (child_process) closed by the parent: exit 0, nothing on stderr, the store closed', async () => {
    const dir = await storeOfOneChange();
    const child = spawn(process.execPath, [cliPath, 'watch', dir, '--follow'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    expect(await firstLines(child.stdout, 1)).toBe('1 put a 1\n');
    child.stdout.destroy();
    expect(await exitOrHang(child, false)).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
    expect(lockReleased(dir)).toBe(true);
  }, 60_000);

  it('a reader that stays: the watch keeps waiting (pipe and socket alike) until SIGTERM', async () => {
    const dir = await storeOfOneChange();
    // cat passes the line on and waits for more: its end of the pipe stays open.
    const piped = spawn('/bin/sh', ['-c', '"$0" "$1" watch "$2" --follow | cat', process.execPath, cliPath, dir],
      { env, detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    expect(await firstLines(piped.stdout, 1)).toBe('1 put a 1\n');
    await sleep(1_500); // several probes
    expect(piped.exitCode).toBe(null);
    expect(lockReleased(dir)).toBe(false);
    process.kill(-piped.pid!, 'SIGTERM');
    await exitOrHang(piped, true);
    const other = await storeOfOneChange();
    const socket = spawn(process.execPath, [cliPath, 'watch', other, '--follow'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(await firstLines(socket.stdout, 1)).toBe('1 put a 1\n');
    await sleep(1_500);
    expect(socket.exitCode).toBe(null);
    socket.kill('SIGTERM');
    expect(await exitOrHang(socket, false)).toEqual({ code: 0, signal: null });
    expect(lockReleased(other)).toBe(true);
  }, 60_000);
});
