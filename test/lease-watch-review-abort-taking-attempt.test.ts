/**
 * Lease-watch review: an acquire whose signal aborts while its attempt is under way ends
 * with the signal's reason and leaves the lease free, also when that attempt finds the
 * lease free and commits it (README: "An aborted signal ends an acquire with its reason
 * whenever it aborts, also while an attempt is under way (it never waits, nor takes the
 * lease, after)"). The attempt checked the signal only as it started: aborted while its
 * commit was being made durable, the acquire resolved with the lease, held for its TTL by
 * a caller that had given up (AbortSignal.timeout, a request that ended), every other
 * acquire kept out. Now the lease is given back (released) before the acquire rejects.
 *
 * The commit is held open at its WAL fdatasync by a file system whose handles' datasync
 * waits for a gate (a Proxy over FaultFileSystem); the abort comes there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type FileSystem, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

/** A FaultFileSystem whose datasync calls wait while a gate is armed (arm() answers: reached, open). */
function gatedFileSystem(seed: number): { fileSystem: FileSystem; arm: () => { reached: Promise<void>; open: () => void } } {
  const base = new FaultFileSystem(seed);
  let gate: { reached: () => void; opened: Promise<void> } | undefined;
  const bind = <T extends object>(target: T, wrap: (name: PropertyKey, value: (...args: unknown[]) => unknown) => unknown): T => new Proxy(target, {
    get(object, name) {
      const value = Reflect.get(object, name, object) as unknown;
      return typeof value === 'function' ? wrap(name, (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(object, args)) : value;
    },
  });
  const gatedHandle = (handle: object): object => bind(handle, (name, call) => (name !== 'datasync' && name !== 'sync' ? call : async (...args: unknown[]) => {
    const armed = gate;
    if (armed !== undefined) {
      gate = undefined;
      armed.reached();
      await armed.opened;
    }
    return call(...args);
  }));
  const fileSystem = bind(base, (name, call) => (name !== 'open' ? call : async (...args: unknown[]) => gatedHandle(await (call(...args) as Promise<object>))));
  const arm = (): { reached: Promise<void>; open: () => void } => {
    let reached!: () => void;
    let open!: () => void;
    const reachedPromise = new Promise<void>((resolve) => { reached = resolve; });
    gate = { reached, opened: new Promise<void>((resolve) => { open = resolve; }) };
    return { reached: reachedPromise, open };
  };
  return { fileSystem: fileSystem as unknown as FileSystem, arm };
}

describe('lease-watch review: an acquire aborted while its taking attempt commits', () => {
  it('rejects with the reason and leaves the lease free for the next acquire', async () => {
    const { fileSystem, arm } = gatedFileSystem(43);
    const store = await openStore('/db', { fileSystem });
    stores.push(store);
    await store.put('warm', 1);
    const controller = new AbortController();
    const gate = arm();
    const acquiring = store.leases.acquire('job', { owner: 'quitter', ttlMs: 600_000, signal: controller.signal })
      .then((lease) => lease, (error: unknown) => error as Error);
    await gate.reached; // the acquisition's commit is being made durable
    const reason = new Error('gave up while the acquire committed');
    controller.abort(reason);
    gate.open();
    expect(await acquiring).toBe(reason);
    expect(await store.leases.get('job'), 'the lease is free').toBeUndefined();
    expect(store.leases.stats()).toMatchObject({ held: 0, failedAcquires: 1 });
    const next = await store.leases.acquire('job', { owner: 'next', ttlMs: 600_000 });
    expect(next.owner).toBe('next');
  });

  it('an acquire not aborted while its commit is held resolves with the lease (the gate alone changes nothing)', async () => {
    const { fileSystem, arm } = gatedFileSystem(47);
    const store = await openStore('/db', { fileSystem });
    stores.push(store);
    await store.put('warm', 1);
    const controller = new AbortController();
    const gate = arm();
    const acquiring = store.leases.acquire('job', { owner: 'keeper', ttlMs: 600_000, signal: controller.signal });
    await gate.reached;
    gate.open();
    const lease = await acquiring;
    controller.abort(new Error('after it resolved'));
    expect((await store.leases.get('job'))?.token).toBe(lease.token);
  });
});
