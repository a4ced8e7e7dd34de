/**
 * Deterministic interleavings of transactions, forced with gates (explicit promises
 * inside the callbacks), never with timers:
 *
 * - lost update: two transactions read one key, then both write it;
 * - write skew: two keys with a constraint across them, each transaction writes one;
 *   refused under serializable (the default), allowed under snapshot isolation;
 * - phantom: a range count, then a concurrent insert into the range;
 * - the race-2 gap itself: a transaction validating while a conflicting commit is
 *   queued but not yet durable (its WAL datasync held open) still conflicts with it,
 *   and the conflict check and version assignment are one step (no commit between);
 * - a fast-check property: random concurrent transactions with injected yield points,
 *   checked against a serial model (each committed transaction's reads are exactly
 *   what running it alone at its commit version would read).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../src/errors.js';
import { ConflictLog } from '../src/transaction/conflict-log.js';
import type { Isolation, TransactionHandle as Transaction } from '../src/transaction/transaction.js';
import type { Store } from '../src/store/store.js';
import { gate, gatedStore, memoryStore, scanAll, settle, settleUntil, track } from './transaction-support.js';

class Refused extends Error {}

/** The version a transaction committed at: the version of its marker key. */
async function versionOf(store: Store, markerKey: string): Promise<number> {
  const history = await store.history(markerKey);
  expect(history).toHaveLength(1);
  return history[0]!.version;
}

describe('lost update: two transactions read x, then both write x + 1', () => {
  for (const isolation of ['serializable', 'snapshot'] as const) {
    it(`${isolation}: the second committer re-runs on the new value; no increment is lost`, async () => {
      const store = await memoryStore();
      await store.put('x', 0);
      const t1Read = gate();
      const t2Committed = gate();
      const t1Seen: number[] = [];
      const t1 = track(store.transaction(async (tx) => {
        const x = (await tx.get('x')) as number;
        t1Seen.push(x);
        t1Read.open();
        await t2Committed.promise;
        tx.put('x', x + 1);
      }, { isolation }));
      await t1Read.promise;
      await store.transaction(async (tx) => {
        const x = (await tx.get('x')) as number;
        tx.put('x', x + 1);
      }, { isolation });
      t2Committed.open();
      await t1.promise;
      expect(t1Seen).toEqual([0, 1]);
      expect(await store.get('x')).toBe(2);
      expect((await store.history('x')).map((entry) => entry.value)).toEqual([2, 1, 0]);
      await store.close();
    });

    it(`${isolation}: with retries 0 the loser fails with ConflictError naming x and the winner's version, writing nothing`, async () => {
      const store = await memoryStore();
      await store.put('x', 0);
      const t1Read = gate();
      const t2Committed = gate();
      const t1 = track(store.transaction(async (tx) => {
        const x = (await tx.get('x')) as number;
        t1Read.open();
        await t2Committed.promise;
        tx.put('x', x + 1);
        tx.put('t1-was-here', true);
      }, { isolation, retries: 0 }));
      await t1Read.promise;
      await store.transaction(async (tx) => {
        tx.put('x', ((await tx.get('x')) as number) + 1);
      }, { isolation });
      const winner = store.version;
      t2Committed.open();
      await settleUntil(() => t1.settled);
      expect(t1.error).toBeInstanceOf(ConflictError);
      expect(t1.error).toMatchObject({ keys: ['x'], ranges: [], winningVersion: winner, attempts: 1 });
      expect(await store.get('x')).toBe(1);
      expect(await store.get('t1-was-here')).toBeUndefined();
      await store.close();
    });
  }

  it('a plain store.put between the read and the write conflicts the same way', async () => {
    const store = await memoryStore();
    await store.put('x', 0);
    const t1Read = gate();
    const putDone = gate();
    const t1 = track(store.transaction(async (tx) => {
      const x = (await tx.get('x')) as number;
      t1Read.open();
      await putDone.promise;
      tx.put('x', x + 1);
    }, { retries: 0 }));
    await t1Read.promise;
    const { version } = await store.put('x', 100);
    putDone.open();
    await settleUntil(() => t1.settled);
    expect(t1.error).toMatchObject({ keys: ['x'], winningVersion: version });
    expect(await store.get('x')).toBe(100);
    await store.close();
  });

  it('serializable: a blind write (no read) does not conflict, it serializes after the other writer', async () => {
    const store = await memoryStore();
    await store.put('x', 0);
    const t1Started = gate();
    const t2Committed = gate();
    let attempts = 0;
    const t1 = track(store.transaction(async (tx) => {
      attempts++;
      await tx.get('unrelated');
      t1Started.open();
      await t2Committed.promise;
      tx.put('x', 'blind');
    }, { retries: 0 }));
    await t1Started.promise;
    await store.put('x', 'other');
    t2Committed.open();
    await t1.promise;
    expect(attempts).toBe(1);
    expect(await store.get('x')).toBe('blind');
    await store.close();
  });
});

describe('write skew: doctors on call, constraint a + b >= 1, each transaction takes one off call', () => {
  /** Takes `me` off call if the other is still on call; refuses otherwise. */
  async function goOffCall(tx: Transaction, me: 'a' | 'b', readBoth: () => void, proceed: Promise<void>): Promise<void> {
    const a = (await tx.get('a')) as number;
    const b = (await tx.get('b')) as number;
    readBoth();
    await proceed;
    if (a + b < 2) throw new Refused(`${me}: only one doctor on call`);
    tx.put(me, 0);
  }

  async function run(isolation: Isolation | undefined, retries?: number) {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'b', value: 1 }]);
    const t1Read = gate();
    const t2Committed = gate();
    const options = { ...(isolation === undefined ? {} : { isolation }), ...(retries === undefined ? {} : { retries }) };
    const t1 = track(store.transaction((tx) => goOffCall(tx, 'a', () => t1Read.open(), t2Committed.promise), options));
    await t1Read.promise;
    // T2 reads both (T1 has not written), takes b off call and commits.
    await store.transaction((tx) => goOffCall(tx, 'b', () => undefined, Promise.resolve()), options);
    t2Committed.open();
    await settleUntil(() => t1.settled);
    const result = { t1: t1.error ?? 'committed', a: await store.get('a'), b: await store.get('b') };
    await store.close();
    return result;
  }

  it('serializable: T1 re-runs, sees b = 0 and refuses; the constraint holds', async () => {
    const result = await run('serializable');
    expect(result.t1).toBeInstanceOf(Refused);
    expect({ a: result.a, b: result.b }).toEqual({ a: 1, b: 0 });
  });

  it('serializable with retries 0: ConflictError names b, the key T1 read and T2 wrote', async () => {
    const result = await run('serializable', 0);
    expect(result.t1).toBeInstanceOf(ConflictError);
    expect(result.t1).toMatchObject({ keys: ['b'], ranges: [], winningVersion: 2 });
    expect({ a: result.a, b: result.b }).toEqual({ a: 1, b: 0 });
  });

  it('the default isolation behaves as serializable', async () => {
    const result = await run(undefined, 0);
    expect(result.t1).toBeInstanceOf(ConflictError);
    expect({ a: result.a, b: result.b }).toEqual({ a: 1, b: 0 });
  });

  it('snapshot isolation: both commit (disjoint writes) and the constraint is broken, as documented', async () => {
    const result = await run('snapshot', 0);
    expect(result.t1).toBe('committed');
    expect({ a: result.a, b: result.b }).toEqual({ a: 0, b: 0 });
  });
});

describe('phantom: count a range, then a concurrent insert into it', () => {
  const RANGE = { gte: 'order:', lt: 'order;' };

  /** At most 3 orders: count them, then insert one if there is room. */
  async function placeOrder(tx: Transaction, id: string, counted: () => void, proceed: Promise<void>): Promise<number> {
    const count = (await scanAll(tx, RANGE)).length;
    counted();
    await proceed;
    if (count >= 3) throw new Refused(`${id}: already ${count} orders`);
    tx.put(`order:${id}`, { count });
    return count;
  }

  async function run(isolation: Isolation, retries: number, concurrent: (store: Store) => Promise<unknown>) {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'order:1', value: {} }, { type: 'put', key: 'order:2', value: {} }, { type: 'put', key: 'other', value: 0 }]);
    const t1Counted = gate();
    const t2Done = gate();
    const t1 = track(store.transaction((tx) => placeOrder(tx, 't1', () => t1Counted.open(), t2Done.promise), { isolation, retries }));
    await t1Counted.promise;
    await concurrent(store);
    const winner = store.version;
    t2Done.open();
    await settleUntil(() => t1.settled);
    const orders = (await scanAll(store, RANGE)).map(([key]) => key);
    await store.close();
    return { t1, orders, winner };
  }

  const insertByTransaction = (isolation: Isolation) => (store: Store) =>
    store.transaction((tx) => placeOrder(tx, 't2', () => undefined, Promise.resolve()), { isolation });

  it('serializable: the insert conflicts with the scanned range; the re-run counts 3 and refuses', async () => {
    const { t1, orders } = await run('serializable', 10, insertByTransaction('serializable'));
    expect(t1.error).toBeInstanceOf(Refused);
    expect(orders).toEqual(['order:1', 'order:2', 'order:t2']);
  });

  it('serializable with retries 0: ConflictError names the range, not a key', async () => {
    const { t1, winner } = await run('serializable', 0, insertByTransaction('serializable'));
    expect(t1.error).toBeInstanceOf(ConflictError);
    expect(t1.error).toMatchObject({ keys: [], ranges: [RANGE], winningVersion: winner });
  });

  it('snapshot isolation: both inserts commit (4 orders: the phantom is allowed)', async () => {
    const { t1, orders } = await run('snapshot', 0, insertByTransaction('snapshot'));
    expect(t1.error).toBeUndefined();
    expect(orders).toEqual(['order:1', 'order:2', 'order:t1', 'order:t2']);
  });

  it('a delete inside the range conflicts too', async () => {
    const { t1 } = await run('serializable', 0, (store) => store.delete('order:1'));
    expect(t1.error).toMatchObject({ ranges: [RANGE] });
  });

  it('writes outside the range do not conflict, including at the exclusive upper bound', async () => {
    for (const key of ['other', 'order;', 'order', 'orde', 'p']) {
      const { t1 } = await run('serializable', 0, (store) => store.put(key, 'outside'));
      expect({ key, error: t1.error }).toEqual({ key, error: undefined });
    }
  });

  it('bounds are exact: gt excludes and lte includes its key', async () => {
    const cases: Array<{ range: Record<string, string>; key: string; conflicts: boolean }> = [
      { range: { gt: 'b', lte: 'd' }, key: 'b', conflicts: false },
      { range: { gt: 'b', lte: 'd' }, key: 'b\u0000', conflicts: true },
      { range: { gt: 'b', lte: 'd' }, key: 'd', conflicts: true },
      { range: { gt: 'b', lte: 'd' }, key: 'd\u0000', conflicts: false },
      { range: { gte: 'b', lt: 'd' }, key: 'b', conflicts: true },
      { range: { gte: 'b', lt: 'd' }, key: 'd', conflicts: false },
      { range: {}, key: 'anything', conflicts: true },
      { range: { lt: 'b' }, key: 'a', conflicts: true },
      { range: { gte: 'é' }, key: 'z', conflicts: false }, // 'é' is 0xC3 0xA9 in UTF-8, above 'z'
      { range: { gte: 'é' }, key: 'ü', conflicts: true },
    ];
    const store = await memoryStore();
    for (const { range, key, conflicts } of cases) {
      const error = await store.transaction(async (tx) => {
        await scanAll(tx, range);
        await store.put(key, 1);
        tx.put('out', 1);
      }, { retries: 0 }).then(() => undefined, (caught: unknown) => caught);
      expect({ range, key, conflicts: error instanceof ConflictError }).toEqual({ range, key, conflicts });
    }
    await store.close();
  });

  it('a point read of an absent key conflicts with its later creation (a point phantom)', async () => {
    const store = await memoryStore();
    const error = await store.transaction(async (tx) => {
      expect(await tx.get('new')).toBeUndefined();
      await store.put('new', 1);
      tx.put('derived', 'new was absent');
    }, { retries: 0 }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ keys: ['new'] });
    expect(await store.get('derived')).toBeUndefined();
    await store.close();
  });

  it('a reverse or limited scan still records the whole range it was given', async () => {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'r1', value: 1 }, { type: 'put', key: 'r5', value: 5 }]);
    const error = await store.transaction(async (tx) => {
      const newest = await scanAll(tx, { gte: 'r', lt: 's', reverse: true, limit: 1 });
      expect(newest).toEqual([['r5', 5]]);
      await store.put('r0', 0); // outside what the limit returned, inside the range
      tx.put('max', newest[0]![1]);
    }, { retries: 0 }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ ranges: [{ gte: 'r', lt: 's' }] });
    await store.close();
  });
});

describe('read-only transactions', () => {
  it('see one consistent version while commits land in between, and never conflict', async () => {
    const store = await memoryStore();
    await store.batch([{ type: 'put', key: 'a', value: 50 }, { type: 'put', key: 'b', value: 50 }]);
    const readA = gate();
    const moved = gate();
    const result = track(store.transaction(async (tx) => {
      const a = (await tx.get('a')) as number;
      readA.open();
      await moved.promise;
      const b = (await tx.get('b')) as number;
      return { a, b, total: a + b, scan: await scanAll(tx) };
    }, { retries: 0 }));
    await readA.promise;
    await store.batch([{ type: 'put', key: 'a', value: 20 }, { type: 'put', key: 'b', value: 80 }]);
    moved.open();
    await settleUntil(() => result.settled);
    expect(result.value).toEqual({ a: 50, b: 50, total: 100, scan: [['a', 50], ['b', 50]] });
    await store.close();
  });
});

describe('the race-2 gap: validation against commits queued but not yet durable', () => {
  it('T1 validating while T2\'s conflicting commit waits for its datasync conflicts with T2\'s version, though T2 is not visible', async () => {
    const { store, gated } = await gatedStore();
    await store.put('x', 0);
    const t1Read = gate();
    const t1Proceed = gate();
    const t1 = track(store.transaction(async (tx) => {
      const x = (await tx.get('x')) as number;
      t1Read.open();
      await t1Proceed.promise;
      tx.put('x', x + 1);
      return x;
    }, { retries: 0 }));
    await t1Read.promise;

    gated.armed = true;
    const t2 = track(store.transaction(async (tx) => {
      tx.put('x', ((await tx.get('x')) as number) + 10);
    }));
    const held = await gated.nextHeld();
    // T2 has its version and is in the WAL, but it is neither durable nor visible.
    await settle();
    expect(t2.settled).toBe(false);
    expect(store.version).toBe(1);
    expect(await store.get('x')).toBe(0);
    expect(store.stats().conflictLogEntries).toBeGreaterThanOrEqual(1);

    t1Proceed.open();
    await settleUntil(() => t1.settled);
    expect(t2.settled).toBe(false); // still not durable when T1 was refused
    expect(t1.error).toBeInstanceOf(ConflictError);
    expect(t1.error).toMatchObject({ keys: ['x'], winningVersion: 2 });

    gated.armed = false;
    held.release();
    await t2.promise;
    expect(await store.get('x')).toBe(10);
    expect(store.version).toBe(2);
    await store.close();
  });

  it('the same when the queued commit is a plain put, and for a transaction that starts inside the gap', async () => {
    const { store, gated } = await gatedStore();
    await store.put('x', 0);
    gated.armed = true;
    const put = track(store.put('x', 'queued'));
    const held = await gated.nextHeld();
    // T1 starts now: it reads as of version 1 (the put is invisible) and conflicts with
    // version 2. It does not burn its retries while the gap lasts (each would conflict
    // again): it waits until version 2 is visible, then re-runs on top of it.
    const readVersions: number[] = [];
    const seen: unknown[] = [];
    const t1 = track(store.transaction(async (tx) => {
      readVersions.push(tx.readVersion);
      seen.push(await tx.get('x'));
      tx.put('x', 'from T1');
    }, { retries: 3 }));
    await settle();
    expect(readVersions).toEqual([1]);
    expect(seen).toEqual([0]);
    expect(t1.settled).toBe(false);
    expect(put.settled).toBe(false);
    // With no retries the conflict is reported at once, naming the queued version;
    // snapshot isolation refuses it as well (write-write with the queued put).
    const serializableError = await store.transaction(async (tx) => { tx.put('x', `${String(await tx.get('x'))}!`); }, { retries: 0 }).catch((caught: unknown) => caught);
    expect(serializableError).toMatchObject({ keys: ['x'], winningVersion: 2, attempts: 1 });
    const snapshotError = await store.transaction((tx) => { tx.put('x', 'si'); }, { isolation: 'snapshot', retries: 0 }).catch((caught: unknown) => caught);
    expect(snapshotError).toMatchObject({ keys: ['x'], winningVersion: 2 });

    gated.armed = false;
    held.release();
    await put.promise;
    await t1.promise;
    // The retry read the put (version 2) and committed on top of it.
    expect(readVersions).toEqual([1, 2]);
    expect(seen).toEqual([0, 'queued']);
    expect(await store.get('x')).toBe('from T1');
    await store.close();
  });

  it('a transaction that does not touch the queued keys commits behind the held group without waiting for it to be visible', async () => {
    const { store, gated } = await gatedStore();
    await store.batch([{ type: 'put', key: 'x', value: 0 }, { type: 'put', key: 'y', value: 0 }]);
    gated.armed = true;
    const put = track(store.put('x', 1));
    const held = await gated.nextHeld();
    const t1 = track(store.transaction(async (tx) => {
      tx.put('y', ((await tx.get('y')) as number) + 1);
    }, { retries: 0 }));
    await settle();
    expect(t1.settled).toBe(false); // validated and queued behind the held group
    gated.armed = false;
    held.release();
    await put.promise;
    await t1.promise;
    expect((await store.history('y'))[0]!.version).toBe(3);
    await store.close();
  });

  it('check and version assignment are atomic: of many transactions released in one tick (datasync held), exactly one wins', async () => {
    const { store, gated } = await gatedStore();
    await store.put('counter', 0);
    gated.armed = true;
    const blocker = track(store.put('blocker', 1));
    const held = await gated.nextHeld(); // everything below queues behind this group
    const TRANSACTIONS = 24;
    const go = gate();
    const allRead = Array.from({ length: TRANSACTIONS }, () => gate());
    const outcomes = Array.from({ length: TRANSACTIONS }, (_, index) => track(store.transaction(async (tx) => {
      const counter = (await tx.get('counter')) as number;
      allRead[index]!.open();
      await go.promise;
      tx.put('counter', counter + 1);
      tx.put(`marker/${index}`, true);
    }, { retries: 0 })));
    // Plain puts of other keys interleave with the commits in the same tick.
    const noise = Array.from({ length: 8 }, (_, index) => go.promise.then(() => store.put(`noise/${index}`, index)));
    await Promise.all(allRead.map((read) => read.promise));
    go.open();
    await settleUntil(() => outcomes.filter((outcome) => outcome.settled).length === TRANSACTIONS - 1);
    await settle();
    // Every refusal happened while nothing was durable yet: the winner and the blocker wait.
    expect(blocker.settled).toBe(false);
    expect(outcomes.filter((outcome) => outcome.settled)).toHaveLength(TRANSACTIONS - 1);
    held.release();
    const releasing = setInterval(() => gated.releaseAll(), 1);
    try {
      await Promise.all([blocker.promise, ...noise, ...outcomes.map((outcome) => outcome.promise.catch(() => undefined))]);
    } finally {
      clearInterval(releasing);
    }
    const winners = outcomes.map((outcome, index) => ({ outcome, index })).filter(({ outcome }) => outcome.error === undefined);
    expect(winners).toHaveLength(1);
    const winnerVersion = await versionOf(store, `marker/${winners[0]!.index}`);
    for (const outcome of outcomes) {
      if (outcome.error === undefined) continue;
      expect(outcome.error).toBeInstanceOf(ConflictError);
      expect(outcome.error).toMatchObject({ keys: ['counter'], winningVersion: winnerVersion });
    }
    expect(await store.get('counter')).toBe(1);
    await store.close();
  });

  it('trace: between a transaction\'s conflict check and the logging of its own version, no other commit is logged', async () => {
    // Instruments the conflict log (the check runs findConflict, the assignment appends).
    const events: Array<{ kind: 'check'; found: boolean } | { kind: 'append'; version: number }> = [];
    const findConflict = ConflictLog.prototype.findConflict;
    const append = ConflictLog.prototype.append;
    ConflictLog.prototype.findConflict = function (this: ConflictLog, ...args) {
      const conflict = findConflict.apply(this, args);
      events.push({ kind: 'check', found: conflict !== undefined });
      return conflict;
    };
    ConflictLog.prototype.append = function (this: ConflictLog, version, keys) {
      events.push({ kind: 'append', version });
      return append.call(this, version, keys);
    };
    try {
      const { store, gated } = await gatedStore();
      await store.put('counter', 0);
      gated.armed = true;
      // Hold each group's datasync for a turn, so commits pile up while others validate.
      let stop = false;
      const releaser = (async () => {
        while (!stop) {
          await settle();
          gated.takeHeld()?.release();
        }
        gated.releaseAll();
      })();
      const go = gate();
      const work = [
        ...Array.from({ length: 30 }, (_, index) => store.transaction(async (tx) => {
          const counter = (await tx.get('counter')) as number;
          await go.promise;
          for (let turn = 0; turn < index % 4; turn++) await null;
          tx.put('counter', counter + 1);
        }, { retries: 1000 })),
        ...Array.from({ length: 30 }, (_, index) => go.promise.then(async () => {
          for (let turn = 0; turn < index % 5; turn++) await null;
          return store.put(`p${index % 3}`, index);
        })),
      ];
      go.open();
      await Promise.all(work);
      stop = true;
      await releaser;
      expect(await store.get('counter')).toBe(30);
      const checks = events.filter((event) => event.kind === 'check');
      expect(checks.length).toBeGreaterThanOrEqual(30);
      for (const [index, event] of events.entries()) {
        if (event.kind !== 'check' || event.found) continue;
        // A passing check is immediately followed by its own append, nothing in between.
        expect(events[index + 1]?.kind).toBe('append');
      }
      await store.close();
    } finally {
      ConflictLog.prototype.findConflict = findConflict;
      ConflictLog.prototype.append = append;
    }
  });
});

// ---------------------------------------------------------------------------
// Property: random concurrent transactions against a serial model

type Step =
  | { op: 'get'; key: string }
  | { op: 'scan'; gte: string; lt: string; reverse: boolean }
  | { op: 'put'; key: string }
  | { op: 'del'; key: string }
  | { op: 'yield'; turns: number };

interface Program {
  kind: 'tx' | 'put';
  steps: Step[];
  /** Yields before the program starts. */
  delay: number;
}

const KEYS = ['d/0', 'd/1', 'd/2', 'd/3', 'd/4', 'd/5'];
const keyArbitrary = fc.constantFrom(...KEYS);
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArbitrary }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('scan' as const), from: fc.integer({ min: 0, max: 6 }), width: fc.integer({ min: 1, max: 4 }), reverse: fc.boolean() })
      .map(({ from, width, reverse }) => ({ op: 'scan' as const, gte: `d/${from}`, lt: `d/${from + width}`, reverse })),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArbitrary }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyArbitrary }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('yield' as const), turns: fc.integer({ min: 1, max: 4 }) }) },
);
const programArbitrary: fc.Arbitrary<Program> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('tx' as const), steps: fc.array(stepArbitrary, { minLength: 1, maxLength: 8 }), delay: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('put' as const), steps: fc.tuple(keyArbitrary).map(([key]) => [{ op: 'put' as const, key }]), delay: fc.integer({ min: 0, max: 6 }) }) },
);

interface Reader {
  get(key: string): Promise<unknown>;
  scan(options: { gte: string; lt: string; reverse: boolean }): AsyncIterableIterator<[string | Uint8Array, unknown]>;
  put(key: string, value: unknown): void;
  delete(key: string): void;
}

/** Runs a program's steps against a reader; returns what it observed. Writes are tagged with the program id. */
async function interpret(steps: readonly Step[], reader: Reader, id: number, yields: boolean): Promise<unknown[]> {
  const observed: unknown[] = [];
  for (const [index, step] of steps.entries()) {
    switch (step.op) {
      case 'get':
        observed.push([step.key, await reader.get(step.key)]);
        break;
      case 'scan':
        observed.push(await scanAll(reader, { gte: step.gte, lt: step.lt, reverse: step.reverse }));
        break;
      case 'put':
        reader.put(step.key, { by: id, step: index });
        break;
      case 'del':
        reader.delete(step.key);
        break;
      case 'yield':
        if (yields) for (let turn = 0; turn < step.turns; turn++) await (turn % 2 === 0 ? null : settle());
        break;
    }
  }
  return observed;
}

/** A transaction against the model: a committed state plus its own writes. */
class ModelTx implements Reader {
  readonly writes = new Map<string, unknown>();
  constructor(private readonly base: ReadonlyMap<string, unknown>) {}
  async get(key: string): Promise<unknown> {
    return this.writes.has(key) ? this.writes.get(key) : this.base.get(key);
  }
  put(key: string, value: unknown): void { this.writes.set(key, value); }
  delete(key: string): void { this.writes.set(key, undefined); }
  async *scan(options: { gte: string; lt: string; reverse: boolean }): AsyncIterableIterator<[string, unknown]> {
    const merged = new Map(this.base);
    for (const [key, value] of this.writes) merged.set(key, value);
    const entries = [...merged].filter(([key, value]) => value !== undefined && key >= options.gte && key < options.lt)
      .sort(([left], [right]) => (left < right ? -1 : 1));
    if (options.reverse) entries.reverse();
    yield* entries;
  }
}

interface Outcome {
  id: number;
  program: Program;
  committed: boolean;
  /** Of the final attempt. */
  readVersion: number;
  observed: unknown[];
  /** The commit version (writers), found through the marker key. */
  version?: number;
  error?: unknown;
}

async function runPrograms(store: Store, programs: readonly Program[], isolation: Isolation): Promise<Outcome[]> {
  return Promise.all(programs.map(async (program, id): Promise<Outcome> => {
    for (let turn = 0; turn < program.delay; turn++) await (turn % 2 === 0 ? null : settle());
    if (program.kind === 'put') {
      const step = program.steps[0] as { key: string };
      const { version } = await store.put(step.key, { by: id, step: 0 });
      return { id, program, committed: true, readVersion: version - 1, observed: [], version };
    }
    const writes = program.steps.some((step) => step.op === 'put' || step.op === 'del');
    let readVersion = -1;
    let observed: unknown[] = [];
    try {
      await store.transaction(async (tx) => {
        readVersion = tx.readVersion;
        observed = await interpret(program.steps, tx, id, true);
        if (writes) tx.put(`m/${id}`, id);
      }, { isolation, retries: 1000 });
    } catch (error) {
      return { id, program, committed: false, readVersion, observed, error };
    }
    const outcome: Outcome = { id, program, committed: true, readVersion, observed };
    if (writes) outcome.version = await versionOf(store, `m/${id}`);
    return outcome;
  }));
}

/** Each committed version's write set, in version order, and the state after each version. */
function serialStates(initial: ReadonlyMap<string, unknown>, baseVersion: number, outcomes: readonly Outcome[]) {
  const writers = outcomes.filter((outcome) => outcome.committed && outcome.version !== undefined)
    .sort((left, right) => left.version! - right.version!);
  const states = new Map<number, Map<string, unknown>>([[baseVersion, new Map(initial)]]);
  const writeSets = new Map<number, Set<string>>();
  let state = new Map(initial);
  let expectedVersion = baseVersion;
  for (const writer of writers) {
    expect(writer.version).toBe(++expectedVersion); // versions are contiguous: nothing else committed
    const model = new ModelTx(state);
    // Replaying the program's writes only needs the step list (write values do not depend on reads).
    for (const [index, step] of writer.program.steps.entries()) {
      if (step.op === 'put') model.put(step.key, { by: writer.id, step: index });
      else if (step.op === 'del') model.delete(step.key);
    }
    state = new Map(state);
    for (const [key, value] of model.writes) {
      if (value === undefined) state.delete(key);
      else state.set(key, value);
    }
    states.set(writer.version!, state);
    writeSets.set(writer.version!, new Set(model.writes.keys()));
  }
  return { states, writeSets, finalState: state, finalVersion: expectedVersion };
}

async function observe(program: Program, id: number, state: ReadonlyMap<string, unknown>): Promise<unknown[]> {
  return interpret(program.steps, new ModelTx(state), id, false);
}

const INITIAL: Array<[string, unknown]> = [['d/1', 'init1'], ['d/2', 'init2'], ['d/4', 'init4']];

async function storeWithInitialState(seed: number): Promise<{ store: Store; baseVersion: number }> {
  const store = await memoryStore({}, seed);
  await store.batch(INITIAL.map(([key, value]) => ({ type: 'put' as const, key, value })));
  return { store, baseVersion: store.version };
}

async function finalContent(store: Store): Promise<Map<string, unknown>> {
  return new Map((await scanAll(store, { gte: 'd/', lt: 'd0' })));
}

describe('random concurrent transactions against a serial model (fast-check)', () => {
  it('serializable: every committed transaction read exactly what running it alone at its commit point reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(programArbitrary, { minLength: 2, maxLength: 10 }), fc.integer({ min: 1, max: 1000 }), async (programs, seed) => {
        const { store, baseVersion } = await storeWithInitialState(seed);
        try {
          const outcomes = await runPrograms(store, programs, 'serializable');
          for (const outcome of outcomes) expect(outcome.error).toBeUndefined();
          const { states, finalState } = serialStates(new Map(INITIAL), baseVersion, outcomes);
          for (const outcome of outcomes) {
            if (outcome.program.kind !== 'tx') continue;
            // Its reads are those of its read version (one consistent snapshot)...
            expect(outcome.observed).toEqual(await observe(outcome.program, outcome.id, states.get(outcome.readVersion)!));
            // ...and, for a writer, also those of the state just before its own version:
            // nothing committed in between touched what it read.
            if (outcome.version !== undefined) {
              expect(outcome.observed).toEqual(await observe(outcome.program, outcome.id, states.get(outcome.version - 1)!));
            }
          }
          expect(await finalContent(store)).toEqual(finalState);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 120, seed: 77, endOnFailure: true },
    );
  });

  it('snapshot isolation: reads come from the read version, and no two overlapping writers both commit on a write-write conflict', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(programArbitrary, { minLength: 2, maxLength: 10 }), fc.integer({ min: 1, max: 1000 }), async (programs, seed) => {
        const { store, baseVersion } = await storeWithInitialState(seed);
        try {
          const outcomes = await runPrograms(store, programs, 'snapshot');
          for (const outcome of outcomes) expect(outcome.error).toBeUndefined();
          const { states, writeSets, finalState } = serialStates(new Map(INITIAL), baseVersion, outcomes);
          for (const outcome of outcomes) {
            if (outcome.program.kind !== 'tx') continue;
            expect(outcome.observed).toEqual(await observe(outcome.program, outcome.id, states.get(outcome.readVersion)!));
            if (outcome.version === undefined) continue;
            // First committer wins: no commit between its read version and its own wrote a key it writes.
            const mine = writeSets.get(outcome.version)!;
            for (let version = outcome.readVersion + 1; version < outcome.version; version++) {
              const overlap = [...(writeSets.get(version) ?? [])].filter((key) => mine.has(key));
              expect({ version, overlap }).toEqual({ version, overlap: [] });
            }
          }
          expect(await finalContent(store)).toEqual(finalState);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 80, seed: 78, endOnFailure: true },
    );
  });

  it('concurrent read-modify-write increments with random yields: none lost (serializable and snapshot)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ before: fc.nat(5), between: fc.nat(5), counter: fc.nat(2) }), { minLength: 2, maxLength: 25 }),
        fc.constantFrom<Isolation>('serializable', 'snapshot'),
        async (increments, isolation) => {
          const store = await memoryStore();
          try {
            await Promise.all(increments.map(async ({ before, between, counter }) => {
              for (let turn = 0; turn < before; turn++) await settle();
              await store.transaction(async (tx) => {
                const value = ((await tx.get(`c${counter}`)) as number | undefined) ?? 0;
                for (let turn = 0; turn < between; turn++) await (turn % 2 === 0 ? null : settle());
                tx.put(`c${counter}`, value + 1);
              }, { isolation, retries: 1000 });
            }));
            for (const counter of [0, 1, 2]) {
              expect((await store.get(`c${counter}`)) ?? 0).toBe(increments.filter((increment) => increment.counter === counter).length);
            }
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 60, seed: 79, endOnFailure: true },
    );
  });
});
