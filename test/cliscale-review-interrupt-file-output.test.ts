/**
 * Ctrl-C stops `ladybug dump` and `ladybug watch` whose output goes to a file
 * (`ladybug dump ./data > dump.txt`), as it stops them writing into a pipe.
 *
 * A scan reads its blocks synchronously and Node writes stdout to a file (or a terminal)
 * synchronously, so the command's loop never waited on I/O, and Node delivers a signal to
 * its handlers only from the event loop: the Ctrl-C (and a second one) waited until the
 * whole store was written, then reported "interrupted" with every entry printed. The
 * child is stopped (SIGSTOP) as soon as its first line is in the file, given SIGINT and
 * continued: the output must then end short of the whole store, exit 130, the lock
 * released, the store's keys intact.
 *
 * Runs the built command (npm test builds first; LADYBUG_TEST_CLI may name another build).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
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
const KEYS = 20_000;
const key = (i: number): string => `k${String(i).padStart(6, '0')}`;
const value = (i: number): string => `${i}:`.padEnd(200, String.fromCharCode(97 + (i % 26)));

async function makeStore(): Promise<string> {
  const directory = temporaryDirectory('cliscale-interrupt-');
  const store = await openStore(directory);
  for (let i = 0; i < KEYS; i += 2_000) {
    await store.batch(Array.from({ length: 2_000 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: value(i + j) })));
    await store.checkpoint();
  }
  await store.compact(); // one run of the cold tier, as a large store's older data: its blocks are read and inflated synchronously
  await store.close();
  return directory;
}

function lockStates(directory: string): boolean[] {
  return readdirSync(directory).filter((name) => /^LOCK\.\d+$/.test(name)).map((name) => {
    try {
      return (JSON.parse(readFileSync(join(directory, name), 'utf8')) as { released: boolean }).released;
    } catch {
      return false;
    }
  });
}

interface Ended { code: number | null; stderr: string; lines: number }

/** Runs the command with stdout a file; SIGINT once its first line is in the file (the loop is running). */
async function interruptedIntoFile(args: string[]): Promise<Ended> {
  const outPath = join(temporaryDirectory('cliscale-interrupt-out-'), 'out.txt');
  const out = openSync(outPath, 'w');
  const child = spawn(process.execPath, [command, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' }, stdio: ['ignore', out, 'pipe'] });
  closeSync(out);
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => { stderr += data.toString(); });
  const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let over = false;
  void ended.then(() => { over = true; });
  while (!over && statSync(outPath).size === 0) await sleep(1);
  expect(over, 'the command ended before its first line was seen').toBe(false);
  child.kill('SIGSTOP');
  child.kill('SIGINT');
  child.kill('SIGCONT');
  const code = await ended;
  const lines = readFileSync(outPath, 'utf8').split('\n').filter((line) => line !== '').length;
  return { code, stderr, lines };
}

async function expectIntact(directory: string): Promise<void> {
  expect(lockStates(directory)).toEqual([true]);
  const store = await openStore(directory);
  try {
    let count = 0;
    for await (const [k, stored] of store.scan()) {
      expect(stored).toBe(value(Number(String(k).slice(1))));
      count++;
    }
    expect(count).toBe(KEYS);
  } finally {
    await store.close();
  }
}

describe('Ctrl-C stops a dump or watch written into a file', () => {
  let directory: string;
  beforeAll(async () => { directory = await makeStore(); }, 60_000);

  for (const name of ['dump', 'watch'] as const) {
    it(`${name} > file: SIGINT ends it before the whole store is written, exit 130, the lock released`, async () => {
      const result = await interruptedIntoFile([name, directory]);
      expect(result.code).toBe(130);
      const stderr = result.stderr.split('\n').filter((line) => line !== '');
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(new RegExp(`^ladybug: interrupted \\(SIGINT\\): ${name} stopped after \\d+ (entries|changes)`));
      expect(stderr[0]).toContain(`after ${result.lines} `); // the count it reports is what it printed
      expect(result.lines).toBeGreaterThan(0);
      expect(result.lines).toBeLessThan(KEYS);
      await expectIntact(directory);
    }, 30_000);
  }
});
