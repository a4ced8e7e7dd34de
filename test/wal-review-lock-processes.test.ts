/**
 * Review (wal-review, 2026-12-04): the directory lock against real processes where the
 * lock is the point.
 * (a) A lock file naming a running process of this host and PID namespace whose start
 *     time differs from the one recorded (the pid was reused) is taken over; with the
 *     recorded start time right, the open is refused naming that process.
 * (b) A store opened while another process is in close(): every attempt is refused
 *     (StoreLockedError) until the closer released the lock; the open that succeeds has
 *     every commit the closer acknowledged, the closer's close() resolved, and the store
 *     verifies clean.
 * (c) The closer SIGKILLed at points spread through its close() (after 0-24 refused
 *     attempts): the next open has every acknowledged commit and verifies clean.
 * No timing thresholds: the parent retries until the child reports or exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, StoreLockedError } from '../src/index.js';
import { ownPidNamespace, readProcessStat } from '../src/store/lock-liveness.js';
import type { Store } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const KEYS = 6000;
const BATCH = 500;

beforeAll(async () => {
  await ensureMergeWorkerBuilt(); // builds dist/, which the children import
}, 180_000);

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  removeTemporaryDirectories();
});

const keyOf = (index: number): string => `k${String(index).padStart(6, '0')}`;

/** A child that writes KEYS keys (acknowledged), reports, then closes the store and reports. */
function closerScript(directory: string): string {
  const index = join(import.meta.dirname, '..', 'dist', 'src', 'index.js');
  return `
    import { openStore } from ${JSON.stringify(index)};
    const store = await openStore(${JSON.stringify(directory)}, { memoryBudgetBytes: 64 * 1024 * 1024 });
    const pad = 'v'.repeat(200);
    for (let start = 0; start < ${KEYS}; start += ${BATCH}) {
      const operations = [];
      for (let i = start; i < start + ${BATCH}; i++) operations.push({ type: 'put', key: 'k' + String(i).padStart(6, '0'), value: { i, pad } });
      await store.batch(operations);
    }
    process.stdout.write('closing\\n');
    await store.close();
    process.stdout.write('closed\\n');
  `;
}

interface Closer {
  child: ChildProcess;
  closing: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startCloser(directory: string): Closer {
  const child = spawn(process.execPath, ['--input-type=module', '--eval', closerScript(directory)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const closing = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout += `${line}\n`;
      if (line === 'closing') resolve();
    });
    void exited.then(() => reject(new Error(`the child exited before closing: ${stderr}`)));
  });
  closing.catch(() => undefined);
  return { child, closing, exited };
}

/** Opens `directory`, retrying while it is refused as locked (`onRefused` hears each refusal's count). */
async function openWhenReleased(directory: string, onRefused: (refusals: number) => void): Promise<{ store: Store; refusals: number }> {
  for (let refusals = 0; ; refusals++) {
    try {
      return { store: await openStore(directory), refusals };
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
      onRefused(refusals + 1);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

async function expectEveryKey(store: Store): Promise<void> {
  const missing: string[] = [];
  for (let index = 0; index < KEYS; index++) {
    const value = (await store.get(keyOf(index))) as { i: number } | undefined;
    if (value?.i !== index) missing.push(keyOf(index));
  }
  expect(missing.slice(0, 5)).toEqual([]);
}

async function expectVerifiesClean(directory: string): Promise<void> {
  const report = await verifyStore(directory);
  expect(report.corruption).toBeUndefined();
  expect(report.ok).toBe(true);
}

describe('(a) a lock whose pid was reused', () => {
  it('is taken over when the running process started at another time; refused when its start time is the recorded one', async () => {
    const sleeper = spawn(process.execPath, ['--eval', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(sleeper);
    await new Promise((resolve) => sleeper.once('spawn', resolve));
    const stat = readProcessStat(sleeper.pid!);
    expect(stat).toBeDefined();
    const lockBody = (processStart: number) => JSON.stringify({
      formatVersion: 2, pid: sleeper.pid, host: hostname(), pidNamespace: ownPidNamespace(), processStart,
      token: 'ab'.repeat(12), acquiredAt: new Date().toISOString(), heartbeatAt: new Date().toISOString(), released: false,
    });

    const refused = temporaryDirectory();
    await (await openStore(refused)).close();
    writeFileSync(join(refused, 'LOCK.000000000007'), lockBody(stat!.startTicks));
    const error = await openStore(refused).then(async (store) => { await store.close(); return undefined; }, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect((error as StoreLockedError).holderPid).toBe(sleeper.pid);

    const reused = temporaryDirectory();
    const store = await openStore(reused);
    await store.put('a', 1);
    await store.close();
    writeFileSync(join(reused, 'LOCK.000000000007'), lockBody(stat!.startTicks + 1));
    const reopened = await openStore(reused);
    expect(await reopened.get('a')).toBe(1);
    await reopened.close();
  });
});

describe('(b) an open while another process is in close()', () => {
  it('is refused until the closer released the lock, then has every acknowledged commit', async () => {
    const directory = temporaryDirectory();
    const closer = startCloser(directory);
    await closer.closing;
    const { store } = await openWhenReleased(directory, () => undefined);
    try {
      await expectEveryKey(store);
    } finally {
      await store.close();
    }
    const exit = await closer.exited;
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toBe('closing\nclosed\n');
    await expectVerifiesClean(directory);
  });
});

describe('(c) the closer SIGKILLed during close()', () => {
  it('after 0, 2 or 16 refused opens: the next open has every acknowledged commit and verifies clean', async () => {
    for (const refusalsBeforeKill of [0, 2, 16]) {
      const directory = temporaryDirectory();
      const closer = startCloser(directory);
      await closer.closing;
      if (refusalsBeforeKill === 0) closer.child.kill('SIGKILL');
      const { store } = await openWhenReleased(directory, (refusals) => {
        if (refusals === refusalsBeforeKill) closer.child.kill('SIGKILL');
      });
      try {
        await expectEveryKey(store);
      } finally {
        await store.close();
      }
      await closer.exited;
      await expectVerifiesClean(directory);
    }
  });
});
