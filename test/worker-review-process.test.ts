/**
 * A store directory shared by a worker thread of this process and a forked child process.
 * Either holds it while the other is refused with StoreLockedError naming the holder's
 * pid; a worker thread that ended without close() (terminated) does not keep the
 * directory from another process while this process lives on: its lock names its thread,
 * which is gone.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST_DIRECTORY, StoreWorker } from './fixtures/worker-review-driver.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/worker-review-child.mjs', import.meta.url));

interface ChildAnswer { opened?: true; closed?: true; error?: { code: string; holderPid: number; message: string } }

const workers: StoreWorker[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  removeTemporaryDirectories();
});

/** A child process opening `directory`; resolves with its first answer. */
function openInChild(directory: string): { child: ChildProcess; answer: Promise<ChildAnswer> } {
  const child = fork(CHILD, [DIST_DIRECTORY, directory], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  return { child, answer: new Promise((resolve) => child.once('message', (message) => resolve(message as ChildAnswer))) };
}

async function closeChild(child: ChildProcess): Promise<void> {
  const closed = new Promise((resolve) => child.once('message', resolve));
  child.send('close');
  expect(await closed).toEqual({ closed: true });
}

function startWorker(): StoreWorker {
  const worker = new StoreWorker();
  workers.push(worker);
  return worker;
}

describe('a worker thread and a child process on one directory', () => {
  it('a worker is refused while a child process holds it, and opens once the child closed', async () => {
    const directory = temporaryDirectory();
    const { child, answer } = openInChild(directory);
    expect(await answer).toEqual({ opened: true });
    const worker = startWorker();
    const refused = await worker.request('open', { directory });
    expect(refused.ok ? 'opened' : refused.error.code).toBe('LADYBUG_STORE_LOCKED');
    expect(refused.ok ? undefined : refused.error.message).toContain(`pid ${child.pid}`);
    await closeChild(child);
    await worker.call('open', { directory });
    expect((await worker.call('get', { key: 'child' })).value).toBe(child.pid);
    await worker.call('close');
  });

  it('a child process is refused while a worker holds it, and opens once the worker closed', async () => {
    const directory = temporaryDirectory();
    const worker = startWorker();
    await worker.call('open', { directory });
    const first = openInChild(directory);
    const refused = await first.answer;
    expect(refused.error?.code).toBe('LADYBUG_STORE_LOCKED');
    expect(refused.error?.holderPid).toBe(process.pid);
    await worker.call('close');
    const second = openInChild(directory);
    expect(await second.answer).toEqual({ opened: true });
    await closeChild(second.child);
  });

  it('a child process opens a directory whose worker thread was terminated without close()', async () => {
    const directory = temporaryDirectory();
    const worker = startWorker();
    await worker.call('open', { directory });
    await worker.fill('from-worker', 100);
    await worker.terminate();
    const { child, answer } = openInChild(directory);
    expect(await answer).toEqual({ opened: true });
    await closeChild(child);
  });
});
