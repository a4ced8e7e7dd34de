/**
 * When a directory lock's holder counts as live (src/store/lock-liveness.ts), the
 * heartbeat that lets a lock of an unverifiable holder go stale, and the way out
 * for a lock nobody can take over (src/store/directory-lock.ts, `ladybug unlock`):
 * (a) a holder in another PID namespace (real `unshare --pid` child, same host
 *     name) is live while its heartbeat is fresh, even after it was killed; once the
 *     heartbeat is stale its lock is taken over;
 * (b) a zombie holder (exited, never reaped by its parent) counts as dead;
 * (c) another host: fresh heartbeat refused, stale heartbeat taken over; a lock
 *     without a heartbeat (format 1) is refused by open and removed by unlock,
 *     unless its pid runs on this host;
 * (d) the heartbeat timer refreshes the lock file, stops on release and abandon,
 *     and notices a takeover;
 * (e) `ladybug unlock --force` from the built CLI: refuses a fresh heartbeat (exit 1),
 *     removes a stale one (exit 0), needs --force (exit 2);
 * (f) the /proc/<pid>/stat parser.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore, StoreLockedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { LOCK_HEARTBEAT_INTERVAL_MS, LOCK_STALE_AFTER_MS } from '../src/limits.js';
import { DirectoryLock, type LockBody } from '../src/store/directory-lock.js';
import { ownPidNamespace, parseProcessStat } from '../src/store/lock-liveness.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { killAllContenders, LockContender } from './support/lock-contender-process.js';
import { buildCli, type CliResult, cliPath, ladybug as runLadybug } from './support/cli-runner.js';

const NEW_PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
const canUnshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

let contenderPath = '';

beforeAll(async () => {
  contenderPath = await harnessEntryPath('lock-contender');
}, 180_000);

afterEach(async () => {
  vi.useRealTimers();
  await killAllContenders();
  removeTemporaryDirectories();
});

function lockFiles(directory: string): string[] {
  return readdirSync(directory).filter((name) => /^LOCK\.\d{12}$/.test(name)).sort();
}

function readLock(directory: string): LockBody {
  const newest = lockFiles(directory).at(-1)!;
  return JSON.parse(readFileSync(join(directory, newest), 'utf8')) as LockBody;
}

/** Rewrites the newest lock file of `directory` with `changes` (as a crashed holder elsewhere would have left it). */
function editLock(directory: string, changes: Partial<LockBody>): void {
  const newest = lockFiles(directory).at(-1)!;
  writeFileSync(join(directory, newest), JSON.stringify({ ...readLock(directory), ...changes }));
}

/** A store directory whose lock was left by a holder on another host. */
async function storeLockedElsewhere(changes: Partial<LockBody>): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  await store.put('k', 1);
  await store.close();
  editLock(directory, { pid: 4242, host: 'container-that-is-gone', pidNamespace: 'pid:[4026531836]', released: false, token: 'f'.repeat(24), ...changes });
  return directory;
}

async function openError(directory: string): Promise<unknown> {
  return openStore(directory).then(async (store) => { await store.close(); return undefined; }, (error: unknown) => error);
}

const staleTime = (): string => new Date(Date.now() - LOCK_STALE_AFTER_MS - 1000).toISOString();

describe.skipIf(!canUnshare)('(a) a holder in another PID namespace on the same host', () => {
  it('is live while its heartbeat is fresh, even killed; taken over once the heartbeat is stale', async () => {
    const directory = temporaryDirectory();
    const holder = await LockContender.start(contenderPath, directory, NEW_PID_NAMESPACE);
    expect(await holder.open('from-namespace')).toMatchObject({ type: 'opened' });
    const body = readLock(directory);
    expect(body.host).toBe(hostname());
    expect(body.pidNamespace).not.toBe(ownPidNamespace());

    const refused = await openError(directory);
    expect(refused).toBeInstanceOf(StoreLockedError);
    expect((refused as StoreLockedError).liveReason).toMatch(/another PID namespace .* fresh heartbeat/);

    await holder.kill();
    // Dead now, but nothing here can tell: the lock holds until the heartbeat is stale.
    expect(await openError(directory)).toBeInstanceOf(StoreLockedError);
    editLock(directory, { heartbeatAt: staleTime() });
    const store = await openStore(directory);
    expect(await store.get('from-namespace')).toBe(body.pid);
    await store.close();
  });

  it('a clean close in the namespace releases the store', async () => {
    const directory = temporaryDirectory();
    const holder = await LockContender.start(contenderPath, directory, NEW_PID_NAMESPACE);
    expect(await holder.open()).toMatchObject({ type: 'opened' });
    await holder.release();
    const store = await openStore(directory);
    await store.close();
  });
});

describe('(b) a zombie holder', () => {
  it('counts as dead: its lock is taken over before its parent reaps it', async () => {
    const directory = temporaryDirectory();
    // `exec sleep` replaces the shell with a process that never waits for its children.
    const holder = await LockContender.start(contenderPath, directory, ['sh', '-c', '"$0" "$@" & exec sleep 600']);
    const opened = await holder.open('from-zombie');
    expect(opened).toMatchObject({ type: 'opened' });
    const zombiePid = opened.pid;
    expect(zombiePid).not.toBe(holder.pid);
    process.kill(zombiePid, 'SIGKILL');
    await waitFor(() => readFileSync(`/proc/${zombiePid}/stat`, 'latin1').includes(') Z '));
    expect(() => process.kill(zombiePid, 0)).not.toThrow();

    const store = await openStore(directory);
    expect(await store.get('from-zombie')).toBe(zombiePid);
    await store.close();
  });
});

describe('(c) a holder on another host', () => {
  it('with a fresh heartbeat is live; with a stale one its lock is taken over', async () => {
    const directory = await storeLockedElsewhere({ heartbeatAt: new Date().toISOString() });
    const refused = await openError(directory);
    expect(refused).toMatchObject({ holderPid: 4242, liveReason: expect.stringMatching(/another host \(container-that-is-gone\) has a fresh heartbeat/) });
    expect((refused as Error).message).toContain('fresh heartbeat');

    editLock(directory, { heartbeatAt: staleTime() });
    const store = await openStore(directory);
    expect(await store.get('k')).toBe(1);
    await store.close();
  });

  it('without a heartbeat (lock format 1) is refused by open and removed by unlock', async () => {
    const directory = await storeLockedElsewhere({ heartbeatAt: undefined, formatVersion: 1 });
    expect(await openError(directory)).toMatchObject({ liveReason: expect.stringContaining('ladybug unlock <dir> --force') });
    const result = await DirectoryLock.unlock(new NodeFileSystem(), directory);
    expect(result).toMatchObject({ previousGeneration: 1, releasedGeneration: 2, reason: expect.stringContaining('no heartbeat') });
    expect(lockFiles(directory)).toEqual(['LOCK.000000000002']);
    expect(readLock(directory)).toMatchObject({ released: true, pid: process.pid });
    const store = await openStore(directory);
    await store.close();
  });

  it('a format 1 lock on this host whose pid runs is refused by unlock too', async () => {
    const directory = await storeLockedElsewhere({
      host: hostname(), pid: process.ppid, processStart: 0, pidNamespace: undefined, heartbeatAt: undefined, formatVersion: 1, threadId: undefined, threadStart: undefined,
    });
    const refused: unknown = await DirectoryLock.unlock(new NodeFileSystem(), directory).catch((error: unknown) => error);
    expect(refused).toMatchObject({ holderPid: process.ppid, liveReason: expect.stringContaining('lock format 1 records no PID namespace') });
    expect(readLock(directory).released).toBe(false);
  });
});

describe('(d) the heartbeat', () => {
  async function acquireWithFakeClock(fileSystem: FaultFileSystem): Promise<DirectoryLock> {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: new Date('2026-11-30T12:00:00Z') });
    await fileSystem.mkdir('/db');
    return DirectoryLock.acquire(fileSystem, '/db');
  }

  async function body(fileSystem: FaultFileSystem, path: string): Promise<LockBody> {
    return JSON.parse(Buffer.from(await fileSystem.readFile(path)).toString('utf8')) as LockBody;
  }

  it('refreshes heartbeatAt every interval, and stops on release', async () => {
    const fileSystem = new FaultFileSystem(7);
    const lock = await acquireWithFakeClock(fileSystem);
    expect((await body(fileSystem, lock.path)).heartbeatAt).toBe('2026-11-30T12:00:00.000Z');
    await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
    expect((await body(fileSystem, lock.path)).heartbeatAt).toBe(new Date(Date.parse('2026-11-30T12:00:00Z') + LOCK_HEARTBEAT_INTERVAL_MS).toISOString());
    await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
    expect(Date.parse((await body(fileSystem, lock.path)).heartbeatAt!)).toBe(Date.parse('2026-11-30T12:00:00Z') + 2 * LOCK_HEARTBEAT_INTERVAL_MS);
    await lock.release();
    const released = await body(fileSystem, lock.path);
    expect(released.released).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(3 * LOCK_HEARTBEAT_INTERVAL_MS);
    expect(await body(fileSystem, lock.path)).toEqual(released);
    expect(fileSystem.listPaths().filter((path) => path.includes('/LOCK'))).toEqual([lock.path]);
  });

  it('stops on abandon: the file keeps the last heartbeat', async () => {
    const fileSystem = new FaultFileSystem(8);
    const lock = await acquireWithFakeClock(fileSystem);
    lock.abandon();
    expect(vi.getTimerCount()).toBe(0);
    const before = await body(fileSystem, lock.path);
    await vi.advanceTimersByTimeAsync(3 * LOCK_HEARTBEAT_INTERVAL_MS);
    expect(await body(fileSystem, lock.path)).toEqual(before);
  });

  it('notices a takeover (a higher generation) and never rewrites its old generation again', async () => {
    const fileSystem = new FaultFileSystem(9);
    const lock = await acquireWithFakeClock(fileSystem);
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const taker = await fileSystem.open('/db/LOCK.000000000002', 'createExclusive');
    await taker.write(Buffer.from(JSON.stringify({ ...(await body(fileSystem, lock.path)), token: 'e'.repeat(24) })), 0);
    await taker.close();
    const before = await body(fileSystem, lock.path);
    await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
    expect(lock.lost).toBe(true);
    expect(warnings).toHaveBeenCalledWith(expect.stringContaining('taken over'));
    expect(await body(fileSystem, lock.path)).toEqual(before);
    await lock.release();
    expect(await body(fileSystem, lock.path)).toEqual(before);
    warnings.mockRestore();
  });
});

describe('(e) ladybug unlock --force', () => {
  let built = false;
  beforeAll(async () => {
    await buildCli();
    built = existsSync(cliPath);
  }, 180_000);

  async function ladybug(...args: string[]): Promise<CliResult> {
    expect(built).toBe(true);
    return runLadybug(...args);
  }

  it('refuses while the heartbeat is fresh, removes a stale lock, and needs --force', async () => {
    const directory = await storeLockedElsewhere({ heartbeatAt: new Date().toISOString() });
    const refused = await ladybug('unlock', directory, '--force');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ladybug: store is locked by pid 4242 on container-that-is-gone .*fresh heartbeat.* \[LADYBUG_STORE_LOCKED\]\n$/);
    expect(lockFiles(directory)).toEqual(['LOCK.000000000001']);

    editLock(directory, { heartbeatAt: staleTime() });
    expect((await ladybug('unlock', directory)).code).toBe(2);
    expect(readLock(directory).released).toBe(false);
    const removed = await ladybug('unlock', directory, '--force', '--json');
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({
      previousGeneration: 1, releasedGeneration: 2, previousHolder: { pid: 4242, host: 'container-that-is-gone' },
      reason: expect.stringContaining('stale heartbeat'),
    });
    expect(readLock(directory).released).toBe(true);
    const again = await ladybug('unlock', directory, '--force');
    expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining('unlock: not locked (released)') });
    const store = await openStore(directory);
    expect(await store.get('k')).toBe(1);
    await store.close();
  });
});

describe('(f) /proc/<pid>/stat', () => {
  it('parses the state and start time after the last parenthesis of the command name', () => {
    const fields = Array.from({ length: 49 }, (_, index) => String(index + 3));
    fields[0] = 'Z';
    fields[19] = '123456';
    expect(parseProcessStat(`77 (a) Z (b) ${fields.join(' ')}\n`)).toEqual({ state: 'Z', startTicks: 123456 });
    expect(parseProcessStat(readFileSync('/proc/self/stat', 'latin1'))).toMatchObject({ state: 'R' });
    expect(parseProcessStat('not a stat line')).toBeUndefined();
  });
});

/** Polls `condition` until it holds (no time limit of its own: the test timeout bounds it). */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
