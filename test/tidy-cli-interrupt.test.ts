/**
 * Ctrl-C (SIGINT) or SIGTERM during a long-running `ladybug` command (dump, watch without
 * --follow, scrub, compact, backup, verify, repair --dry-run, restore) ends its work through
 * the work's own stop (an AbortSignal, or close() for a compaction), closes the store so its lock is released, prints one line
 * saying what state things are in, and exits 130 (SIGINT) or 143 (SIGTERM).
 *
 * The signal is sent once the command holds the store's lock (and, for dump and watch,
 * printed its first line): dump and watch are held by their reader (stdout paused), scrub
 * by --bytes-per-second 1;
 * compact, backup, verify and restore are stopped (SIGSTOP) as soon as the lock (or the
 * restore's target) appears, given the signal, and continued, so it lands as their work starts.
 *
 * Runs the built command (npm test builds first; LADYBUG_TEST_CLI may name another build).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

afterAll(() => removeTemporaryDirectories());
beforeAll(async () => {
  if (process.env['LADYBUG_TEST_CLI'] === undefined && !existsSync(cliPath)) await buildCli();
}, 120_000);

const command = process.env['LADYBUG_TEST_CLI'] ?? cliPath;
const KEYS = 3_000;
const value = (i: number): string => `${i}:`.padEnd(1_000, String.fromCharCode(97 + (i % 26)));

/** A store of KEYS keys of 1 KB (3 MB of dump output), flushed into runs, its last keys in the WAL. */
async function makeStore(): Promise<string> {
  const directory = temporaryDirectory('tidy-interrupt-');
  const store = await openStore(directory);
  for (let i = 0; i < KEYS; i += 500) {
    await store.batch(Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: `k${String(i + j).padStart(5, '0')}`, value: value(i + j) })));
    if (i < KEYS - 500) await store.checkpoint();
  }
  await store.close();
  return directory;
}

interface Ended { code: number | null; signal: string | null; stdout: string; stderr: string }

function start(args: string[]): { child: ChildProcessWithoutNullStreams; ended: Promise<Ended>; firstOut: Promise<void> } {
  const child = spawn(process.execPath, [command, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' } });
  let stdout = '';
  let stderr = '';
  let outSeen: () => void = () => undefined;
  const firstOut = new Promise<void>((resolve) => { outSeen = resolve; });
  child.stdout.on('data', (data: Buffer) => {
    stdout += data.toString();
    outSeen();
  });
  child.stderr.on('data', (data: Buffer) => { stderr += data.toString(); });
  const ended = new Promise<Ended>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, ended, firstOut };
}

function lockStates(directory: string): boolean[] {
  return readdirSync(directory).filter((name) => /^LOCK\.\d+$/.test(name)).map((name) => {
    try {
      return (JSON.parse(readFileSync(join(directory, name), 'utf8')) as { released: boolean }).released;
    } catch {
      return false; // being written
    }
  });
}

/** Resolves once `held()` is true (polled: the command prints nothing before its work ends); rejects if the child ends first. */
async function until(held: () => boolean, ended: Promise<Ended>): Promise<void> {
  let over = false;
  void ended.then(() => { over = true; });
  while (!held()) {
    if (over) throw new Error('the command ended before it held the store');
    await sleep(2);
  }
}

/** Stops the child, queues `signal` and continues it: the signal lands as the work begins. */
function signalAtStart(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  child.kill('SIGSTOP');
  child.kill(signal);
  child.kill('SIGCONT');
}

async function expectIntact(directory: string): Promise<void> {
  expect(lockStates(directory)).toEqual([true]); // released: the next open takes it without a takeover
  const store = await openStore(directory);
  try {
    let count = 0;
    for await (const [key, stored] of store.scan()) {
      expect(stored).toBe(value(Number(String(key).slice(1))));
      count++;
    }
    expect(count).toBe(KEYS);
  } finally {
    await store.close();
  }
}

const EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function expectInterrupted(ended: Ended, signal: 'SIGINT' | 'SIGTERM', says: RegExp): void {
  expect({ code: ended.code, signal: ended.signal }).toEqual({ code: EXIT[signal], signal: null });
  const lines = ended.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^ladybug: interrupted \\(${signal}\\)`));
  expect(lines[0]).toMatch(says);
}

describe('ladybug commands end cleanly on SIGINT and SIGTERM', () => {
  let directory: string;
  beforeAll(async () => { directory = await makeStore(); }, 60_000);

  it('dump: stopped while its reader is slow, exit 130, the lock released', async () => {
    const { child, ended, firstOut } = start(['dump', directory]);
    await firstOut;
    child.stdout.pause(); // the reader stalls: dump waits for it
    await until(() => lockStates(directory).includes(false), ended);
    child.kill('SIGINT');
    child.stdout.resume();
    const result = await ended;
    expectInterrupted(result, 'SIGINT', /dump stopped after \d+ entries.*lock released/);
    expect(result.stdout.split('\n').length).toBeLessThan(KEYS);
    await expectIntact(directory);
  }, 30_000);

  it('watch without --follow: stopped while its reader is slow, exit 130, the lock released', async () => {
    const { child, ended, firstOut } = start(['watch', directory]);
    await firstOut;
    child.stdout.pause();
    await until(() => lockStates(directory).includes(false), ended);
    child.kill('SIGINT');
    child.stdout.resume();
    const result = await ended;
    expectInterrupted(result, 'SIGINT', /watch stopped after \d+ changes.*lock released/);
    expect(result.stdout.split('\n').length).toBeLessThan(KEYS);
    await expectIntact(directory);
  }, 30_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`scrub (paced): ${signal} stops it, exit ${EXIT[signal]}, the lock released`, async () => {
      const { child, ended } = start(['scrub', directory, '--bytes-per-second', '1']);
      await until(() => lockStates(directory).includes(false), ended);
      child.kill(signal);
      expectInterrupted(await ended, signal, /scrub stopped.*lock released/);
      await expectIntact(directory);
    }, 30_000);
  }

  it('compact: SIGTERM cancels the compaction, exit 143, the lock released', async () => {
    const { child, ended } = start(['compact', directory, '--json']);
    await until(() => lockStates(directory).includes(false), ended);
    signalAtStart(child, 'SIGTERM');
    expectInterrupted(await ended, 'SIGTERM', /compact.*lock released/);
    await expectIntact(directory);
  }, 30_000);

  it('backup: SIGINT stops it, what it made is removed, exit 130, the lock released', async () => {
    const target = join(temporaryDirectory('tidy-interrupt-target-'), 'backup');
    const { child, ended } = start(['backup', directory, target, '--copy']);
    await until(() => lockStates(directory).includes(false), ended);
    signalAtStart(child, 'SIGINT');
    const result = await ended;
    expectInterrupted(result, 'SIGINT', /backup.*lock released/);
    if (/backup stopped/.test(result.stderr)) expect(existsSync(target)).toBe(false);
    await expectIntact(directory);
  }, 30_000);

  it('verify: SIGINT stops it, exit 130, the lock released', async () => {
    const { child, ended } = start(['verify', directory]);
    await until(() => lockStates(directory).includes(false), ended);
    signalAtStart(child, 'SIGINT');
    expectInterrupted(await ended, 'SIGINT', /verify.*nothing changed/);
    await expectIntact(directory);
  }, 30_000);

  it('repair --dry-run: SIGTERM stops it, exit 143, the lock released', async () => {
    const { child, ended } = start(['repair', directory, '--dry-run']);
    await until(() => lockStates(directory).includes(false), ended);
    signalAtStart(child, 'SIGTERM');
    expectInterrupted(await ended, 'SIGTERM', /repair --dry-run.*nothing changed/);
    await expectIntact(directory);
  }, 30_000);

  it('restore: SIGINT stops it, what it wrote is removed, exit 130', async () => {
    const backup = join(temporaryDirectory('tidy-interrupt-backup-'), 'b');
    const store = await openStore(directory);
    await store.backup(backup);
    await store.close();
    const target = join(temporaryDirectory('tidy-interrupt-restore-'), 'restored');
    const { child, ended } = start(['restore', backup, target]);
    await until(() => existsSync(target), ended);
    signalAtStart(child, 'SIGINT');
    const result = await ended;
    expectInterrupted(result, 'SIGINT', /restore/);
    if (/restore stopped/.test(result.stderr)) expect(existsSync(target) ? readdirSync(target) : []).toEqual([]);
  }, 30_000);
});
