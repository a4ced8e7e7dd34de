/**
 * Leases across restarts: the restart rule applies at open (before any lease
 * operation), and real child processes SIGKILLed during acquire, renew and release
 * (test/support/lease-crash-child.ts) leave a store whose next open has no lease of
 * the dead process, none of its bound keys, and hands out tokens above every token
 * the child was given.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { LEASE_RECORD_PREFIX } from '../src/lease/lease-record.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import type { LeaseChildReport } from './support/lease-crash-child.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function keysUnder(store: Store, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const [key] of store.scan({ gte: prefix, lt: `${prefix}\uffff` })) keys.push(String(key));
  return keys;
}

describe('the lease restart rule applies at open', () => {
  it('records of the earlier open and their bound keys are gone before any lease operation', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'alive', { lease });
    await store.close();
    const reopened = await openStore(directory);
    try {
      // Read through the plain store API only: the lease manager has not been asked anything.
      expect(await reopened.get('session/a')).toBeUndefined();
      expect(await keysUnder(reopened, LEASE_RECORD_PREFIX)).toEqual([]);
      const again = await reopened.leases.acquire('job', { owner: 'b', ttlMs: 1_000 });
      expect(again.token).toBeGreaterThan(lease.token);
      expect(reopened.leases.stats().expiries).toBe(1);
    } finally {
      await reopened.close();
    }
  });
});

let childPath = '';

beforeAll(async () => {
  // Inside the project so the bundle's external packages resolve from node_modules;
  // not a temporaryDirectory() (afterEach removes those; the bundle serves every test).
  const cacheDirectory = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));
  mkdirSync(cacheDirectory, { recursive: true });
  const outDirectory = mkdtempSync(join(cacheDirectory, 'ladybug-lease-child-'));
  childPath = join(outDirectory, 'lease-crash-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./support/lease-crash-child.ts', import.meta.url))],
    bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: childPath, logLevel: 'error',
  });
}, 60_000);

afterAll(() => rmSync(dirname(childPath), { recursive: true, force: true }));

interface ChildRun { tokens: number[]; exitSignal: NodeJS.Signals | null }

/** Starts a child, waits for it to hold 'job', lets it run `runMs`, SIGKILLs it. */
async function runAndKill(directory: string, operation: string, cycle: number, runMs: number): Promise<ChildRun> {
  const child: ChildProcess = fork(childPath, [directory, operation, String(cycle)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const tokens: number[] = [];
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { readyResolve = resolve; });
  child.on('message', (report: LeaseChildReport) => {
    tokens.push(report.token);
    if (report.type === 'ready') readyResolve();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await Promise.race([ready, exited]);
  await sleep(runMs);
  child.kill('SIGKILL');
  const exitSignal = await exited;
  return { tokens, exitSignal };
}

describe('leases across SIGKILL of a real process', () => {
  for (const operation of ['acquire', 'renew', 'release'] as const) {
    it(`killed during ${operation}: reopen has no lease of the dead process, no bound key, and larger tokens`, async () => {
      const directory = temporaryDirectory();
      const random = new SeededRandom(operation.length * 1009);
      let tokenFloor = 0;
      for (let cycle = 0; cycle < 4; cycle++) {
        const run = await runAndKill(directory, operation, cycle, random.nextIntInclusive(5, 120));
        expect(run.exitSignal).toBe('SIGKILL'); // it was still running its loop, not failed
        expect(run.tokens.length).toBeGreaterThan(0);
        for (let index = 1; index < run.tokens.length; index++) expect(run.tokens[index]!).toBeGreaterThanOrEqual(run.tokens[index - 1]!);
        expect(run.tokens[0]!).toBeGreaterThan(tokenFloor); // the child's first acquisition after the last open
        const store = await openStore(directory, { segmentSizeBytes: 64 * 1024 });
        try {
          expect(await keysUnder(store, LEASE_RECORD_PREFIX)).toEqual([]);
          expect(await keysUnder(store, 'session/')).toEqual([]);
          expect(await store.leases.list()).toEqual([]);
          const lease = await store.leases.acquire('job', { owner: 'parent', ttlMs: 60_000 });
          expect(lease.token).toBeGreaterThan(Math.max(...run.tokens));
          tokenFloor = lease.token;
        } finally {
          await store.close();
        }
      }
    }, 120_000);
  }
});

describe('lease expiry timers under the lease.operations lock (debug mode checks the order)', () => {
  it('an expired lease is deleted with its bound keys by its timer, with no further lease operation', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      // Acquired long and renewed short once bound: acquired with 30 ms, the lease could end
      // before the bound put on a loaded machine (its deadline counts from before the
      // acquire's commit and fdatasync): LeaseLostError at the put, no defect.
      const lease = await store.leases.acquire('short', { owner: 'a', ttlMs: 60_000 });
      await store.put('presence/a', 'here', { lease });
      expect(await store.get('presence/a')).toBe('here');
      await store.leases.renew('short', { owner: 'a', token: lease.token, ttlMs: 30 });
      // The timer runs its deletion as a lease operation; started under the lock, it
      // would be a reentrant take (refused in debug mode) unless detached.
      for (let waitedMs = 0; (await store.get('presence/a')) !== undefined && waitedMs < 10_000; waitedMs += 20) await sleep(20);
      expect(await store.get('presence/a')).toBeUndefined();
      expect(await keysUnder(store, LEASE_RECORD_PREFIX)).toEqual([]);
      expect(store.leases.stats().expiries).toBe(1);
    } finally {
      await store.close();
    }
  });
});

describe('leases on a store opened with keyEncoding binary', () => {
  it('list shows the holder, and the restart rule at the next open deletes its record and bound key', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { keyEncoding: 'binary' });
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'alive', { lease });
    expect(await store.leases.list()).toEqual([lease]);
    await store.close();
    const reopened = await openStore(directory, { keyEncoding: 'binary' });
    try {
      expect(await reopened.get('session/a')).toBeUndefined();
      const left: unknown[] = [];
      for await (const [key] of reopened.scan({ gte: LEASE_RECORD_PREFIX, lt: `${LEASE_RECORD_PREFIX}\uffff` })) left.push(key);
      expect(left).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
