/**
 * A fifo, a socket or a device node in the store's directory under a name of the store's
 * own (a WAL segment, the next lock file): node's openSync of a fifo with no writer blocks
 * the thread until one appears, so such a name made openStore hang for ever, its event
 * loop stuck (no timer, no signal handler ran). The real file system opens without
 * blocking and refuses what is neither a file nor a directory: the open fails with
 * IoError naming the path, no store file is changed (the lock's generation moves on, as
 * after any open), and the store opens once the name is gone.
 * The open runs in a child process: a hang there cannot stop the test.
 */
import { spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

let childPath = '';

beforeAll(async () => {
  const cacheDirectory = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));
  mkdirSync(cacheDirectory, { recursive: true });
  const outDirectory = mkdtempSync(join(cacheDirectory, 'ladybug-special-files-child-'));
  childPath = join(outDirectory, 'fsenv-review-open-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./support/fsenv-review-open-child.ts', import.meta.url))],
    bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: childPath, logLevel: 'error',
  });
}, 60_000);

afterAll(() => rmSync(dirname(childPath), { recursive: true, force: true }));

interface ChildOutcome { outcome: 'opened' | 'refused' | 'hung'; value?: unknown; name?: string; code?: string; errno?: string; message?: string }

function openInChild(directory: string): ChildOutcome {
  const run = spawnSync(process.execPath, [childPath, directory], { encoding: 'utf8', timeout: 8_000, killSignal: 'SIGKILL' });
  const line = run.stdout.trim();
  if (line === '') return { outcome: 'hung' };
  return JSON.parse(line) as ChildOutcome;
}

/** A closed store of 60 keys: a run, and a WAL the close left; returns the names under it. */
async function storeWithRunsAndWal(): Promise<string> {
  const directory = join(temporaryDirectory(), 'store');
  const store = await openStore(directory);
  for (let i = 0; i < 50; i += 1) await store.put(`k${i}`, i);
  await store.checkpoint();
  for (let i = 50; i < 60; i += 1) await store.put(`k${i}`, i);
  await store.close();
  return directory;
}

/** Every name under `directory` but the lock's (a failed open leaves its generation released, as any close does). */
function listing(directory: string): string[] {
  const names: string[] = [];
  for (const name of readdirSync(directory, { recursive: true }) as string[]) if (!/^LOCK\.\d+$/.test(name)) names.push(name);
  return names.sort();
}

/** The next WAL segment's name (one above the highest there) and the next lock file's. */
function nextNames(directory: string): { segment: string; lock: string } {
  const segments = readdirSync(join(directory, 'wal')).filter((name) => /^wal-\d+\.log$/.test(name)).map((name) => Number(name.slice(4, -4)));
  const locks = readdirSync(directory).filter((name) => /^LOCK\.\d+$/.test(name)).map((name) => Number(name.slice(5)));
  const segment = `wal-${String(Math.max(...segments) + 1).padStart(10, '0')}.log`;
  const lock = `LOCK.${String(Math.max(...locks) + 1).padStart(12, '0')}`;
  return { segment: join('wal', segment), lock };
}

describe.skipIf(process.platform === 'win32')('a fifo or socket under a name the store uses', () => {
  for (const place of ['segment', 'lock'] as const) {
    it(`a fifo at the next ${place === 'segment' ? 'WAL segment' : 'lock file'}: open refused with IoError, nothing changed, then opens`, async () => {
      const directory = await storeWithRunsAndWal();
      const special = join(directory, nextNames(directory)[place]);
      execFileSync('mkfifo', [special]);
      const before = listing(directory);
      const outcome = openInChild(directory);
      expect(outcome.outcome).toBe('refused');
      expect(outcome.code).toBe('LADYBUG_IO');
      expect(outcome.message).toContain(special);
      expect(listing(directory)).toEqual(before);
      expect(statSync(special).isFIFO()).toBe(true);
      unlinkSync(special);
      expect(openInChild(directory)).toEqual({ outcome: 'opened', value: 5 });
    }, 30_000);
  }

  it('NodeFileSystem refuses a fifo at open and readFile without blocking', async () => {
    const directory = temporaryDirectory();
    const fifo = join(directory, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fileSystem = new NodeFileSystem();
    // With the fix none of these block; without it the first would block this thread, so
    // they are only run once the child has shown the store refuses (the tests above).
    for (const attempt of [() => fileSystem.open(fifo, 'read'), () => fileSystem.open(fifo, 'readWrite'), () => fileSystem.readFile(fifo)]) {
      const error = await attempt().then(() => undefined, (caught: unknown) => caught as { code?: string; message: string });
      expect(error?.message).toContain(fifo);
      expect(error?.message).toContain('not a regular file');
    }
    expect(existsSync(fifo)).toBe(true);
  });
});
