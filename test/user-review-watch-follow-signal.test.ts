/**
 * New-user review (installed tarball): `ladybug watch <dir> --follow` stopped with
 * Ctrl-C (SIGINT) or SIGTERM died at once, holding the store's lock (its lock file still
 * said released: false): the next opener had to take over a dead holder's lock, and one
 * in another PID namespace counts it live until its heartbeat is 60 s old. The command
 * now ends its feed through the watch's signal on either signal, closes the store
 * (the lock is released) and exits 0, as a reader stopping early does.
 *
 * Runs the built command (npm test builds first; LADYBUG_TEST_CLI may name another build).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { cliPath } from './support/cli-runner.js';

afterAll(() => removeTemporaryDirectories());

const command = process.env['LADYBUG_TEST_CLI'] ?? cliPath;

describe('user review: ladybug watch --follow ends cleanly on SIGINT and SIGTERM', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: the store is closed, its lock released, exit 0`, async () => {
      const directory = temporaryDirectory('ladybug-watch-follow-');
      const store = await openStore(directory);
      await store.put('a', 1);
      await store.close();
      const child = spawn(process.execPath, [command, 'watch', directory, '--follow'], { env: { ...process.env, LADYBUG_DEBUG: '' } });
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (data: Buffer) => {
          stdout += data.toString();
          if (stdout.includes('\n')) resolve();
        });
        child.once('exit', () => reject(new Error(`exited before its first line: ${stdout}`)));
      });
      expect(stdout).toBe('1 put a 1\n');
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, killed) => resolve({ code, signal: killed })));
      child.kill(signal);
      expect(await exited).toEqual({ code: 0, signal: null });
      const locks = readdirSync(directory).filter((name) => name.startsWith('LOCK.'));
      expect(locks.map((name) => (JSON.parse(readFileSync(join(directory, name), 'utf8')) as { released: boolean }).released)).toEqual([true]);
    }, 60_000);
  }
});
