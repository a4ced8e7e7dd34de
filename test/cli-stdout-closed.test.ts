/**
 * `ladybug dump | head` and `ladybug watch | head`: the reader closes the pipe after a
 * few lines. The next write failed with EPIPE as an unhandled 'error' event of stdout:
 * the process died with a stack trace, exit 1, and the store was never closed (its lock
 * left unreleased, for the next opener to judge dead). Now the command stops at the next
 * line, closes the store (the lock is released) and exits quietly with status 0.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** 20,000 keys of about 80 bytes printed each: far more than a pipe's buffer holds. */
async function storeOfManyKeys(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  for (let start = 0; start < 20_000; start += 5_000) {
    await store.batch(Array.from({ length: 5_000 }, (_, offset) => ({
      type: 'put' as const, key: `key-${String(start + offset).padStart(6, '0')}`, value: { index: start + offset, text: 'x'.repeat(50) },
    })));
  }
  await store.close();
  return dir;
}

/** Runs the command, closes its stdout after the first chunk, and resolves with its status, stderr and the first chunk. */
function runAndCloseEarly(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string; first: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, LADYBUG_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let first = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout.once('data', (chunk: Buffer) => {
      first = chunk.toString();
      child.stdout.destroy();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, first }));
  });
}

/** The newest lock generation's body: `released` once the store was closed. */
function newestLock(dir: string): { released: boolean } {
  const newest = readdirSync(dir).filter((name) => /^LOCK\.\d+$/.test(name)).sort().at(-1)!;
  return JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { released: boolean };
}

describe('ladybug output to a reader that stops early', () => {
  for (const command of [['dump', '--json'], ['watch']]) {
    it(`${command.join(' ')}: exit 0, no stack trace, the store closed`, async () => {
      const dir = await storeOfManyKeys();
      const result = await runAndCloseEarly([command[0]!, dir, ...command.slice(1)]);
      expect(result.first).toMatch(/key-000000/);
      expect(result.stderr).toBe('');
      expect(result).toMatchObject({ code: 0, signal: null });
      expect(newestLock(dir).released).toBe(true);
    });
  }
});
