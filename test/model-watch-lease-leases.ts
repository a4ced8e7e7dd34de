/**
 * Lease steps of model-watch-lease-random.test.ts: acquire (free and busy), renew,
 * release and force release with current and stale tokens (an earlier acquisition, one
 * of an earlier open, another owner), expiry by the fake clock (the expiry timer's
 * commit, and an acquire racing it), a waiting acquire handed the lease by a release or
 * an expiry, fenced writes and transactions (a renewal inside re-runs the body), writes
 * bound to a lease, and user writes of reserved keys (refused, in every form).
 *
 * The clock: performance.now() answers model.clockMs (the driver's spy), so a lease
 * expires only when a step moves the clock past its deadline.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import type { Store } from '../src/index.js';
import { AUDIT_PREFIX, byBytes, count, type Model, type Operation, RECORD_PREFIX, RESERVED } from './model-watch-lease-model.js';
import { brief } from './model-watch-lease-watches.js';

type Random = () => number;
const pick = <T>(rng: Random, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

export const LEASE_NAMES = ['L1', 'L2', 'jobs/a'];
const OWNERS = ['w1', 'w2'];

export interface LeaseContext {
  store: Store;
  model: Model;
  rng: Random;
  log: string[];
  keys: string[];
  value: (rng: Random) => unknown;
}

async function refused(promise: Promise<unknown>, code: string, where: string): Promise<unknown> {
  let error: unknown;
  try {
    const result = await promise;
    throw new Error(`${where}: expected ${code}, got ${brief(result)}`);
  } catch (caught) {
    error = caught;
  }
  expect((error as { code?: string }).code, `${where}: ${String(error)}`).toBe(code);
  count(`refused ${code}`);
  return error;
}

/** An acquisition to act with: the live holder's (its owner or, sometimes, another), or a stale one. */
function reference(context: LeaseContext): { name: string; token: number; owner: string } | undefined {
  const { model, rng } = context;
  const liveNames = LEASE_NAMES.filter((name) => model.live(name) !== undefined);
  if (liveNames.length > 0 && rng() < 0.65) {
    const name = pick(rng, liveNames);
    const lease = model.live(name)!;
    return { name, token: lease.token, owner: rng() < 0.9 ? lease.owner : `${lease.owner}x` };
  }
  return model.acquisitions.length === 0 ? undefined : { ...pick(rng, model.acquisitions) };
}

function randomOperations(context: LeaseContext, count: number): Operation[] {
  const { rng, keys } = context;
  return Array.from({ length: count }, (): Operation => (rng() < 0.75 ? { type: 'put', key: pick(rng, keys), value: context.value(rng) } : { type: 'del', key: pick(rng, keys) }));
}

export async function acquireStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const name = pick(rng, LEASE_NAMES);
  const owner = pick(rng, OWNERS);
  const ttlMs = 20 + Math.floor(rng() * 180);
  if (model.live(name) !== undefined) {
    await refused(store.leases.acquire(name, { owner, ttlMs }), 'LADYBUG_LEASE_BUSY', `${label}: acquire of held ${name}`);
    return;
  }
  const info = await store.leases.acquire(name, { owner, ttlMs });
  expect(info.token, `${label}: token is the acquiring commit's version`).toBe(model.version + 1);
  expect([info.name, info.owner], label).toEqual([name, owner]);
  model.acquire(info.token, name, owner, ttlMs);
}

export async function renewStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const ref = reference(context);
  if (ref === undefined) return;
  const ttlMs = rng() < 0.5 ? undefined : 20 + Math.floor(rng() * 180);
  const options = { owner: ref.owner, token: ref.token, ...(ttlMs === undefined ? {} : { ttlMs }) };
  if (!model.holds(ref.name, ref.token, ref.owner)) {
    await refused(store.leases.renew(ref.name, options), 'LADYBUG_LEASE_LOST', `${label}: renew ${brief(ref)}`);
    return;
  }
  await store.leases.renew(ref.name, options);
  const lease = model.leases.get(ref.name)!;
  lease.ttlMs = ttlMs ?? lease.ttlMs;
  lease.deadlineMs = model.clockMs + lease.ttlMs;
  model.commit(model.version + 1, [{ type: 'put', key: RECORD_PREFIX + ref.name, value: { owner: lease.owner } }]);
}

export async function releaseStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  if (rng() < 0.25) {
    const name = pick(rng, LEASE_NAMES);
    if (rng() < 0.15) {
      await refused(store.leases.forceRelease(name, { authorization: 'guess', reason: 'test' }), 'LADYBUG_UNAUTHORIZED', `${label}: forceRelease`);
      return;
    }
    const { released } = await store.leases.forceRelease(name, { authorization: 'admin', reason: 'stuck', actor: 'ops' });
    expect(released, `${label}: forceRelease ${name}`).toBe(model.leases.has(name));
    if (released) model.endLease(model.version + 1, name, { actor: 'ops', reason: 'stuck' });
    return;
  }
  const ref = reference(context);
  if (ref === undefined) return;
  if (!model.holds(ref.name, ref.token, ref.owner)) {
    await refused(store.leases.release(ref.name, { owner: ref.owner, token: ref.token }), 'LADYBUG_LEASE_LOST', `${label}: release ${brief(ref)}`);
    return;
  }
  await store.leases.release(ref.name, { owner: ref.owner, token: ref.token });
  model.endLease(model.version + 1, ref.name);
}

/** Waits until the records of `names` are gone (their expiry commits ran) and applies those commits in the order they got. */
async function settleExpiries(context: LeaseContext, names: string[], label: string): Promise<void> {
  const { store, model } = context;
  for (let round = 0; ; round++) {
    let left = 0;
    for (const name of names) if (await store.get(RECORD_PREFIX + name) !== undefined) left++;
    if (left === 0) break;
    if (round > 600) throw new Error(`${label}: ${left} expired leases of ${brief(names)} still stored after 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const ended: Array<[number, string]> = [];
  for (const name of names) {
    const [newest] = await store.history(RECORD_PREFIX + name, { limit: 1 });
    expect(newest?.deleted, `${label}: ${name}'s record deleted`).toBe(true);
    ended.push([newest!.version, name]);
  }
  ended.sort((left, right) => left[0] - right[0]);
  for (const [version, name] of ended) model.endLease(version, name);
  count('expiry by the timer');
}

export async function advanceStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng, log } = context;
  model.clockMs += pick(rng, [5, 40, 100, 250, 1000]);
  const expired = LEASE_NAMES.filter((name) => model.leases.has(name) && model.live(name) === undefined);
  log.push(`  clock ${model.clockMs}, expired ${brief(expired)}`);
  if (expired.length === 0) return;
  const name = expired[0]!;
  const lease = model.leases.get(name)!;
  // At once, before the expiry's commit: its token fences nothing any more.
  if (rng() < 0.5) {
    await refused(store.put(pick(rng, context.keys), 1, { fence: { name, token: lease.token } }), 'LADYBUG_LEASE_LOST', `${label}: write fenced by expired ${name}`);
  }
  if (expired.length === 1 && rng() < 0.4) {
    // An acquire racing the expiry timer: it replaces the expired record in its own commit, or comes right after the expiry's.
    const owner = pick(rng, OWNERS);
    const info = await store.leases.acquire(name, { owner, ttlMs: 50 });
    expect(info.token - model.version, `${label}: acquire of expired ${name} at ${info.token}, model at ${model.version}`).toBeLessThanOrEqual(2);
    count(`acquire racing an expiry: ${info.token === model.version + 2 ? 'after it' : 'replaced the record'}`);
    if (info.token === model.version + 2) model.endLease(model.version + 1, name);
    model.acquire(info.token, name, owner, 50);
    return;
  }
  await settleExpiries(context, expired, label);
  expect(store.version, `${label}: after the expiries`).toBe(model.version);
}

/** A waiting acquire, handed the lease by a release, a force release or an expiry. */
export async function handoffStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const name = pick(rng, LEASE_NAMES);
  const holder = model.live(name);
  if (holder === undefined) return acquireStep(context, label);
  const before = store.leases.stats().waitingAcquires;
  const owner = pick(rng, OWNERS);
  const waiting = store.leases.acquire(name, { owner, ttlMs: 60, waitMs: 60_000 });
  waiting.catch(() => undefined);
  for (let round = 0; store.leases.stats().waitingAcquires === before; round++) {
    if (round > 2000) throw new Error(`${label}: the acquire never waited`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const how = pick(rng, ['release', 'force', 'expiry']);
  const others = LEASE_NAMES.filter((other) => other !== name && (model.leases.get(other)?.deadlineMs ?? Infinity) <= holder.deadlineMs);
  if (how === 'expiry' && others.length === 0) {
    // The expiry timer's commit wakes the waiter, whose acquisition is the next commit.
    model.clockMs = holder.deadlineMs;
    count('handoff by expiry');
    const info = await waiting;
    expect(info.token, `${label}: the waiter's token after the expiry`).toBe(model.version + 2);
    model.endLease(model.version + 1, name);
    model.acquire(info.token, name, owner, 60);
    return;
  } else if (how === 'force') {
    await store.leases.forceRelease(name, { authorization: 'admin', reason: 'handoff' });
    model.endLease(model.version + 1, name, { actor: 'unnamed', reason: 'handoff' });
  } else {
    await store.leases.release(name, { owner: holder.owner, token: holder.token });
    model.endLease(model.version + 1, name);
  }
  count(`handoff by ${how === 'expiry' ? 'release' : how}`);
  const info = await waiting;
  expect(info.token, `${label}: the waiter's token (${how})`).toBe(model.version + 1);
  model.acquire(info.token, name, owner, 60);
}

export async function leaseReadStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model } = context;
  for (const name of LEASE_NAMES) {
    const live = model.live(name);
    const info = await store.leases.get(name);
    expect(info === undefined ? undefined : [info.owner, info.token], `${label}: leases.get ${name}`).toEqual(live === undefined ? undefined : [live.owner, live.token]);
    const record = await store.get(RECORD_PREFIX + name);
    expect((record as { owner?: string } | undefined)?.owner, `${label}: record of ${name}`).toBe(model.leases.get(name)?.owner);
    expect((await store.get(AUDIT_PREFIX + name) as { previousOwner?: string } | undefined)?.previousOwner, `${label}: audit of ${name}`)
      .toBe((model.valueOf(AUDIT_PREFIX + name) as { previousOwner?: string } | undefined)?.previousOwner);
  }
  const listed = (await store.leases.list()).map((info) => [info.name, info.token]);
  expect(listed, `${label}: leases.list`).toEqual(LEASE_NAMES.filter((name) => model.live(name) !== undefined).sort(byBytes).map((name) => [name, model.live(name)!.token]));
  const records: string[] = [];
  for await (const [key] of store.scan({ gte: RECORD_PREFIX, lt: `${RESERVED}lease0` })) records.push(String(key));
  expect(records, `${label}: scan of the records`).toEqual([...model.leases.keys()].map((name) => RECORD_PREFIX + name).sort(byBytes));
}

/** put, delete or batch fenced by a current or stale token; or a transaction with requireLease (a renewal inside re-runs it). */
export async function fencedStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const ref = reference(context);
  if (ref === undefined) return;
  const operations = randomOperations(context, 1 + Math.floor(rng() * 3));
  const form = pick(rng, ['put', 'delete', 'batch', 'tx', 'tx']);
  const fence = rng() < 0.5 ? { name: ref.name, token: ref.token, owner: ref.owner } : { name: ref.name, token: ref.token };
  // requireLease names no owner: the token alone decides.
  const valid = model.holds(ref.name, ref.token, form === 'tx' ? undefined : fence.owner);
  const where = `${label}: ${form} fenced by ${brief(fence)} (valid ${valid})`;
  if (form === 'tx') {
    const renewInside = valid && rng() < 0.4;
    let attempts = 0;
    const run = store.transaction(async (tx) => {
      attempts++;
      await tx.requireLease(ref.name, ref.token);
      await tx.get(operations[0]!.key);
      if (renewInside && attempts === 1) await store.leases.renew(ref.name, { owner: model.leases.get(ref.name)!.owner, token: ref.token });
      for (const operation of operations) if (operation.type === 'put') tx.put(operation.key, operation.value); else tx.delete(operation.key);
    }, { isolation: rng() < 0.5 ? 'serializable' : 'snapshot', retries: 2 });
    if (!valid) {
      await refused(run, 'LADYBUG_LEASE_LOST', where);
      return;
    }
    await run;
    if (renewInside) {
      model.commit(model.version + 1, [{ type: 'put', key: RECORD_PREFIX + ref.name, value: { owner: model.leases.get(ref.name)!.owner } }]);
      model.leases.get(ref.name)!.deadlineMs = model.clockMs + model.leases.get(ref.name)!.ttlMs;
    }
    count(`fenced transaction committed${renewInside ? ', renewed inside' : ''}`);
    expect(attempts, `${where}: attempts (renewed inside: ${renewInside})`).toBe(renewInside ? 2 : 1);
    model.commit(model.version + 1, operations);
    return;
  }
  const single = operations[0]!;
  const write = form === 'put' && single.type === 'put' ? store.put(single.key, single.value, { fence })
    : form === 'delete' ? store.delete(single.key, { fence })
      : store.batch(operations.map((operation) => (operation.type === 'put' ? operation : { type: 'del' as const, key: operation.key })), { fence });
  const written = form === 'put' && single.type === 'put' ? [single] : form === 'delete' ? [{ type: 'del' as const, key: single.key }] : operations;
  if (!valid) {
    await refused(write, 'LADYBUG_LEASE_LOST', where);
    return;
  }
  const { version } = await write;
  count(`fenced ${form} committed`);
  model.commit(version, written);
}

/** A put or batch bound to a lease: its put keys are deleted by the commit that ends it, unless written since. */
export async function boundStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const ref = reference(context);
  if (ref === undefined) return;
  const valid = model.holds(ref.name, ref.token, ref.owner);
  const operations = randomOperations(context, 1 + Math.floor(rng() * 3));
  const lease = { name: ref.name, token: ref.token, owner: ref.owner };
  const single = operations[0]!;
  const write = operations.length === 1 && single.type === 'put' ? store.put(single.key, single.value, { lease }) : store.batch(operations, { lease });
  if (!valid) {
    await refused(write, 'LADYBUG_LEASE_LOST', `${label}: bound to ${brief(ref)}`);
    return;
  }
  const { version } = await write;
  count('bound write committed');
  model.boundWrite(version, ref.name, operations);
}

/** A user write of a reserved key, in one of its forms: refused with InvalidKeyError 'reserved', nothing written. */
export async function reservedWriteStep(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  const text = pick(rng, [RECORD_PREFIX + pick(rng, LEASE_NAMES), `${RESERVED}x`, AUDIT_PREFIX + 'L1', RESERVED]);
  const key = rng() < 0.4 ? Buffer.from(text, 'utf8') : text;
  const other = pick(rng, context.keys);
  const form = pick(rng, ['put', 'delete', 'batch', 'tx', 'txSync', 'fenced']);
  const live = LEASE_NAMES.find((name) => model.live(name) !== undefined);
  const attempt = (): Promise<unknown> => {
    switch (form) {
      case 'put': return store.put(key, 1);
      case 'delete': return store.delete(key);
      case 'batch': return store.batch([{ type: 'put', key: other, value: 2 }, { type: 'put', key, value: 1 }]);
      case 'tx': return store.transaction(async (tx) => { await tx.get(other); tx.put(other, 3); tx.put(key, 1); });
      case 'txSync': return store.transactionSync((tx) => { tx.put(other, 3); tx.delete(key); });
      default: return live === undefined ? store.put(key, 1) : store.put(key, 1, { fence: { name: live, token: model.live(live)!.token } });
    }
  };
  const error = await refused(attempt(), 'LADYBUG_INVALID_KEY', `${label}: ${form} of reserved ${JSON.stringify(text)}`);
  expect((error as { reason?: string }).reason, label).toBe('reserved');
  expect(store.version, `${label}: a refused reserved write committed`).toBe(model.version);
}
