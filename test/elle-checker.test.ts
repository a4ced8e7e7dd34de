/**
 * Tests of the Elle-style list-append checker (test/support/elle): hand-built
 * histories that exhibit each anomaly must be reported with the right type, and
 * serial executions (hand-built and random) must be reported valid.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Anomaly,
  type AnomalyType,
  checkHistory,
  describeAnomalies,
  type History,
  type Operation,
  type Outcome,
  type Transaction,
} from './support/elle/checker.js';
import { stronglyConnectedComponents } from './support/elle/strongly-connected.js';

function transaction(id: number, outcome: Outcome, operations: Operation[], process = id): Transaction {
  return { id, process, outcome, operations };
}

const ok = (id: number, ...operations: Operation[]): Transaction => transaction(id, 'ok', operations);
const failed = (id: number, ...operations: Operation[]): Transaction => transaction(id, 'fail', operations);
const info = (id: number, ...operations: Operation[]): Transaction => transaction(id, 'info', operations);
const append = (key: string, element: number): Operation => ['append', key, element];
const read = (key: string, list: number[] | null): Operation => ['r', key, list];

function typesOf(anomalies: readonly Anomaly[]): AnomalyType[] {
  return anomalies.map((found) => found.type);
}

function expectValid(history: History): void {
  for (const isolation of ['serializable', 'snapshot'] as const) {
    const result = checkHistory(history, { isolation, processOrder: true });
    expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
    expect(result.valid).toBe(true);
  }
}

function expectAnomaly(history: History, type: AnomalyType): Anomaly {
  const result = checkHistory(history, { isolation: 'serializable' });
  expect(result.valid).toBe(false);
  const found = result.anomalies.find((candidate) => candidate.type === type);
  expect(found, `expected ${type}, got:\n${describeAnomalies(result.anomalies)}`).toBeDefined();
  return found as Anomaly;
}

describe('elle checker: valid histories', () => {
  it('accepts an empty history', () => {
    expectValid([]);
  });

  it('accepts a serial history with reads, appends, failures and indeterminate outcomes', () => {
    expectValid([
      ok(1, read('x', null), append('x', 1)),
      ok(2, append('x', 2), append('y', 1), read('x', [1, 2])),
      failed(3, append('x', 3)),
      info(4, append('y', 2)),
      info(5, append('x', 4)),
      ok(6, read('x', [1, 2, 4]), read('y', [1, 2])),
    ]);
  });

  it('accepts an unobserved indeterminate append and an unobserved failed one', () => {
    expectValid([ok(1, append('x', 1)), info(2, append('x', 2)), failed(3, append('x', 3)), ok(4, read('x', [1]))]);
  });
});

describe('elle checker: cycle anomalies', () => {
  it('G0: two transactions append to two keys in opposite orders', () => {
    const found = expectAnomaly(
      [
        ok(1, append('x', 1), append('y', 1)),
        ok(2, append('x', 2), append('y', 2)),
        ok(3, read('x', [1, 2]), read('y', [2, 1])),
      ],
      'G0',
    );
    expect([...found.transactions].sort()).toEqual([1, 2]);
    expect(found.explanation).toMatch(/T1 -ww-> T2/);
    expect(found.explanation).toMatch(/T2 -ww-> T1/);
  });

  it('G1c: two transactions each read the other one\'s write', () => {
    const found = expectAnomaly(
      [ok(1, append('x', 1), read('y', [1])), ok(2, append('y', 1), read('x', [1]))],
      'G1c',
    );
    expect(found.explanation).toMatch(/-wr->/);
    expect(found.explanation).not.toMatch(/-rw->/);
  });

  it('G-single: a lost update', () => {
    const found = expectAnomaly(
      [
        ok(1, read('x', null), append('x', 1)),
        ok(2, read('x', null), append('x', 2)),
        ok(3, read('x', [1, 2])),
      ],
      'G-single',
    );
    expect([...found.transactions].sort()).toEqual([1, 2]);
    expect(found.explanation).toMatch(/T1 -ww-> T2/);
    expect(found.explanation).toMatch(/T2 -rw-> T1/);
  });

  it('G-single: read skew, also forbidden under snapshot isolation', () => {
    const history = [
      ok(1, append('x', 1), append('y', 1)),
      ok(2, read('x', null), read('y', [1])),
      ok(3, read('x', [1])),
    ];
    expectAnomaly(history, 'G-single');
    expect(checkHistory(history, { isolation: 'snapshot' }).valid).toBe(false);
  });

  it('G2: write skew is invalid under serializable, allowed (informational) under snapshot', () => {
    const history = [
      ok(1, read('x', null), read('y', null), append('x', 1)),
      ok(2, read('x', null), read('y', null), append('y', 1)),
      ok(3, read('x', [1]), read('y', [1])),
    ];
    const found = expectAnomaly(history, 'G2');
    expect(found.explanation).toMatch(/T1 -rw-> T2/);
    expect(found.explanation).toMatch(/T2 -rw-> T1/);
    expect(found.informational).toBe(false);

    const snapshot = checkHistory(history, { isolation: 'snapshot' });
    expect(snapshot.valid).toBe(true);
    expect(typesOf(snapshot.anomalies)).toEqual(['G2']);
    expect(snapshot.anomalies[0]?.informational).toBe(true);
  });

  it('G-nonadjacent: two rw edges separated by wr edges are forbidden under snapshot too', () => {
    const history = [
      ok(1, read('a', null), read('d', [1])),
      ok(2, append('a', 1), append('b', 1)),
      ok(3, read('b', [1]), read('c', null)),
      ok(4, append('c', 1), append('d', 1)),
      ok(5, read('a', [1]), read('c', [1])),
    ];
    const found = expectAnomaly(history, 'G-nonadjacent');
    expect(found.transactions).toHaveLength(4);
    const snapshot = checkHistory(history, { isolation: 'snapshot' });
    expect(snapshot.valid).toBe(false);
    expect(typesOf(snapshot.anomalies.filter((anomaly) => !anomaly.informational))).toEqual(['G-nonadjacent']);
  });

  it('a cycle whose two rw edges are adjacent is G2 only, not G-nonadjacent', () => {
    const history = [
      ok(1, read('x', null), read('z', [1])),
      ok(2, append('x', 1), read('y', null)),
      ok(3, append('y', 1), append('z', 1)),
      ok(4, read('x', [1]), read('y', [1])),
    ];
    const result = checkHistory(history, { isolation: 'snapshot' });
    expect(typesOf(result.anomalies)).toEqual(['G2']);
    expect(result.anomalies[0]?.explanation).toMatch(/^G2 cycle T1 -> T2 -> T3 -> T1\n {2}T1 -rw-> T2: .*\n {2}T2 -rw-> T3: .*\n {2}T3 -wr-> T1: /);
    expect(result.valid).toBe(true);
  });

  it('finds a cycle through an indeterminate transaction whose write was observed', () => {
    expectAnomaly(
      [
        info(1, append('x', 1), append('y', 1)),
        ok(2, append('x', 2), append('y', 2)),
        ok(3, read('x', [1, 2]), read('y', [2, 1])),
      ],
      'G0',
    );
  });

  it('process order: optional edges turn a stale read by the same process into G-single-process', () => {
    const history = [
      transaction(1, 'ok', [append('x', 1)], 7),
      transaction(2, 'ok', [read('x', null)], 7),
      transaction(3, 'ok', [read('x', [1])], 8),
    ];
    expect(checkHistory(history, { isolation: 'serializable' }).valid).toBe(true);
    const result = checkHistory(history, { isolation: 'serializable', processOrder: true });
    expect(typesOf(result.anomalies)).toEqual(['G-single-process']);
    expect(result.anomalies[0]?.explanation).toMatch(/T1 -process-> T2/);
  });
});

describe('elle checker: strongly connected components', () => {
  const sortedComponents = (components: number[][]): number[][] =>
    components.map((component) => [...component].sort((left, right) => left - right)).sort((left, right) => left[0]! - right[0]!);

  it('splits a small graph into its components', () => {
    const edges = new Map([[1, [2]], [2, [3]], [3, [1, 4]], [4, [5]], [5, [4]], [6, [6]], [7, []]]);
    const components = stronglyConnectedComponents(edges.keys(), (vertex) => edges.get(vertex) ?? []);
    expect(sortedComponents(components)).toEqual([[1, 2, 3], [4, 5], [6], [7]]);
  });

  it('handles a cycle of 200,000 vertices without recursion', () => {
    const count = 200_000;
    const vertices = Array.from({ length: count }, (_, vertex) => vertex);
    const components = stronglyConnectedComponents(vertices, (vertex) => [(vertex + 1) % count]);
    expect(components).toHaveLength(1);
    expect(components[0]).toHaveLength(count);
  });
});

describe('elle checker: read anomalies', () => {
  it('G1a: a read sees an aborted append', () => {
    const found = expectAnomaly([failed(1, append('x', 1)), ok(2, read('x', [1]))], 'G1a');
    expect(found.transactions).toEqual([1, 2]);
  });

  it('G1b: a read sees an intermediate state of another transaction', () => {
    const found = expectAnomaly([ok(1, append('x', 1), append('x', 2)), ok(2, read('x', [1]))], 'G1b');
    expect(found.transactions).toEqual([1, 2]);
  });

  it('garbage read: a read sees an element nobody appended', () => {
    const found = expectAnomaly([ok(1, append('x', 1)), ok(2, read('x', [1, 7]))], 'garbage-read');
    expect(found.explanation).toMatch(/nobody appended 7/);
  });

  it('duplicate elements: a read sees an element twice', () => {
    expectAnomaly([ok(1, append('x', 1)), ok(2, read('x', [1, 1]))], 'duplicate-elements');
  });

  it('incompatible order: two reads that are not prefixes of one another', () => {
    const found = expectAnomaly(
      [ok(1, append('x', 1)), ok(2, append('x', 2)), ok(3, read('x', [1, 2])), ok(4, read('x', [2, 1]))],
      'incompatible-order',
    );
    expect([...found.transactions].sort()).toEqual([3, 4]);
    expect(found.explanation).toMatch(/first differ at position 0 \(2 vs 1\)/);
  });

  it('internal: a read that misses its own transaction\'s append', () => {
    const found = expectAnomaly([ok(1, append('x', 1), read('x', []))], 'internal');
    expect(found.transactions).toEqual([1]);
  });

  it('internal: a read that disagrees with an earlier read of the same transaction', () => {
    expectAnomaly(
      [ok(1, append('x', 1)), ok(2, append('x', 2)), ok(3, read('x', [1]), read('x', [1, 2]))],
      'internal',
    );
  });

  it('ignores the reads of failed and indeterminate transactions', () => {
    expectValid([ok(1, append('x', 1)), failed(2, read('x', [9])), info(3, read('x', [2, 1]))]);
  });
});

/** A random transaction: micro-operations over a few keys (elements assigned when run). */
type PlannedOperation = { kind: 'append' | 'read'; key: string };
interface PlannedTransaction {
  readonly operations: readonly PlannedOperation[];
  readonly outcome: Outcome;
  /** For 'info': whether it actually committed. */
  readonly applied: boolean;
  readonly process: number;
}

const plannedTransaction: fc.Arbitrary<PlannedTransaction> = fc.record({
  operations: fc.array(
    fc.record({ kind: fc.constantFrom('append' as const, 'read' as const), key: fc.constantFrom('a', 'b', 'c') }),
    { minLength: 1, maxLength: 5 },
  ),
  outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'fail', 'info'),
  applied: fc.boolean(),
  process: fc.integer({ min: 0, max: 3 }),
});

/** A committed transaction reading every key, which places every committed append in the order. */
const FINAL_READ: PlannedTransaction = {
  operations: ['a', 'b', 'c'].map((key) => ({ kind: 'read', key })),
  outcome: 'ok',
  applied: true,
  process: 0,
};

/** Runs the planned transactions one at a time against a Map model, recording what they saw. */
function runSerially(plans: readonly PlannedTransaction[]): History {
  const state = new Map<string, readonly number[]>();
  let nextElement = 1;
  return plans.map((plan, position) => {
    const commits = plan.outcome === 'ok' || (plan.outcome === 'info' && plan.applied);
    const working = new Map(state);
    const operations = plan.operations.map((planned): Operation => {
      const list = working.get(planned.key);
      if (planned.kind === 'read') return ['r', planned.key, list ?? null];
      const element = nextElement++;
      working.set(planned.key, [...(list ?? []), element]);
      return append(planned.key, element);
    });
    if (commits) for (const [key, list] of working) state.set(key, list);
    return transaction(position + 1, plan.outcome, operations, plan.process);
  });
}

/** Every (reader, key, last element) where a committed transaction read another's append. */
function observedForeignAppends(history: History): { reader: number; key: string; element: number }[] {
  const writers = new Map<string, number>();
  for (const entry of history) {
    for (const operation of entry.operations) {
      if (operation[0] === 'append') writers.set(`${operation[1]}/${operation[2]}`, entry.id);
    }
  }
  return history.flatMap((entry) =>
    entry.operations.flatMap((operation) => {
      const element = operation[0] === 'r' ? operation[2]?.at(-1) : undefined;
      if (element === undefined || entry.outcome !== 'ok') return [];
      const foreign = writers.get(`${operation[1]}/${element}`) !== entry.id;
      return foreign ? [{ reader: entry.id, key: operation[1], element }] : [];
    }),
  );
}

describe('elle checker: random serial executions', () => {
  it('reports every serial execution valid, with no anomaly at all', () => {
    fc.assert(
      fc.property(fc.array(plannedTransaction, { maxLength: 40 }), fc.boolean(), (plans, finalRead) => {
        expectValid(runSerially(finalRead ? [...plans, FINAL_READ] : plans));
      }),
      { numRuns: 300 },
    );
  });

  it('detects G1a whenever a serial execution shows one failed append to a later reader', () => {
    fc.assert(
      fc.property(fc.array(plannedTransaction, { maxLength: 30 }), fc.nat(), (plans, pick) => {
        const history = runSerially(plans);
        const candidates = observedForeignAppends(history);
        fc.pre(candidates.length > 0);
        const { key, element } = candidates[pick % candidates.length] as (typeof candidates)[number];
        const appendedIt = (entry: Transaction): boolean =>
          entry.operations.some((operation) => operation[0] === 'append' && operation[1] === key && operation[2] === element);
        const relabelled = history.map((entry) => (appendedIt(entry) ? { ...entry, outcome: 'fail' as const } : entry));
        const result = checkHistory(relabelled, { isolation: 'serializable' });
        expect(typesOf(result.anomalies)).toContain('G1a');
      }),
      { numRuns: 200 },
    );
  });

  // Deep dependency chains: 5,000 transactions, each depending on the one before. A checker that
  // recursed per edge would exhaust the stack here. Only the suite's timeout bounds the time: a
  // timing threshold failed on the shared 2-core machine under load (12.7 s against 10 s).
  it('checks a long serial history (deep dependency chains)', () => {
    const plans = Array.from({ length: 5000 }, (_, position): PlannedTransaction => ({
      operations: [
        { kind: 'read', key: 'a' },
        { kind: 'append', key: position % 2 === 0 ? 'a' : 'b' },
      ],
      outcome: 'ok',
      applied: true,
      process: position % 8,
    }));
    expectValid(runSerially(plans));
  }, 120_000);
});

/**
 * A model multi-version database running the planned transactions concurrently:
 * each reads and appends against the snapshot taken when it began (plus its own
 * appends) and, at commit, validates against the transactions that committed
 * since it began:
 * - 'serializable' aborts if any of them wrote a key it read or appended;
 * - 'snapshot' aborts if any of them appended to a key it appended to
 *   (first committer wins);
 * - 'unchecked' never aborts and writes back whole lists (lost updates).
 */
type ModelValidation = 'serializable' | 'snapshot' | 'unchecked';

interface ScheduledTransaction {
  readonly plan: PlannedTransaction;
  readonly beginAt: number;
  readonly duration: number;
}

const scheduledTransaction: fc.Arbitrary<ScheduledTransaction> = fc.record({
  plan: plannedTransaction,
  beginAt: fc.integer({ min: 0, max: 30 }),
  duration: fc.integer({ min: 0, max: 10 }),
});

interface Commit {
  readonly sequence: number;
  readonly writtenKeys: ReadonlySet<string>;
}

function runConcurrently(schedule: readonly ScheduledTransaction[], validation: ModelValidation): History {
  const events = schedule.flatMap((entry, position) => [
    { time: entry.beginAt, position, kind: 0 as const },
    { time: entry.beginAt + entry.duration, position, kind: 1 as const },
  ]);
  events.sort((left, right) => left.time - right.time || left.kind - right.kind || left.position - right.position);
  const state = new Map<string, readonly number[]>();
  const commits: Commit[] = [];
  const begun = new Map<number, { working: Map<string, readonly number[]>; operations: Operation[]; since: number }>();
  const history: Transaction[] = [];
  let nextElement = 1;
  for (const event of events) {
    const entry = schedule[event.position] as ScheduledTransaction;
    if (event.kind === 0) {
      const working = new Map(state);
      const operations = entry.plan.operations.map((planned): Operation => {
        const list = working.get(planned.key);
        if (planned.kind === 'read') return ['r', planned.key, list ?? null];
        const element = nextElement++;
        working.set(planned.key, [...(list ?? []), element]);
        return append(planned.key, element);
      });
      begun.set(event.position, { working, operations, since: commits.length });
      continue;
    }
    const { working, operations, since } = begun.get(event.position) as NonNullable<ReturnType<typeof begun.get>>;
    const writes = new Set(operations.filter((operation) => operation[0] === 'append').map((operation) => operation[1]));
    const touched = new Set(operations.map((operation) => operation[1]));
    const guarded = validation === 'serializable' ? touched : validation === 'snapshot' ? writes : new Set<string>();
    const conflicts = commits.slice(since).some((commit) => [...guarded].some((key) => commit.writtenKeys.has(key)));
    if (!conflicts) {
      for (const key of writes) state.set(key, working.get(key) as readonly number[]);
      commits.push({ sequence: commits.length, writtenKeys: writes });
    }
    history.push(transaction(history.length + 1, conflicts ? 'fail' : 'ok', operations, event.position));
  }
  return history;
}

describe('elle checker: concurrent executions of a model database', () => {
  it('a serializable model yields no anomaly', () => {
    fc.assert(
      fc.property(fc.array(scheduledTransaction, { maxLength: 25 }), (schedule) => {
        const history = runConcurrently(schedule, 'serializable');
        const result = checkHistory(history, { isolation: 'serializable' });
        expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a snapshot-isolation model yields only (allowed) G2, and sometimes does', () => {
    let writeSkews = 0;
    fc.assert(
      fc.property(fc.array(scheduledTransaction, { maxLength: 25 }), (schedule) => {
        const result = checkHistory(runConcurrently(schedule, 'snapshot'), { isolation: 'snapshot' });
        expect(result.valid, describeAnomalies(result.anomalies)).toBe(true);
        expect(result.anomalies.every((found) => found.type === 'G2')).toBe(true);
        if (result.anomalies.length > 0) writeSkews++;
      }),
      { numRuns: 300, seed: 20240601 },
    );
    expect(writeSkews).toBeGreaterThan(0);
  });

  it('an unchecked model (lost updates) is often caught', () => {
    let caught = 0;
    fc.assert(
      fc.property(fc.array(scheduledTransaction, { maxLength: 25 }), (schedule) => {
        const history = runConcurrently(schedule, 'unchecked');
        if (!checkHistory(history, { isolation: 'snapshot' }).valid) caught++;
      }),
      { numRuns: 300, seed: 20240602 },
    );
    expect(caught).toBeGreaterThan(10);
  });
});
