/**
 * An Elle-style isolation checker for list-append histories (after Kingsbury and
 * Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations").
 *
 * checkHistory(history, { isolation }):
 * 1. indexes the history (who appended what; committed reads; external reads);
 * 2. finds anomalies visible in single reads (G1a, G1b, internal, garbage,
 *    duplicates) and infers each key's version order from its longest read
 *    (reporting incompatible orders);
 * 3. builds the dependency graph (ww, wr, rw, and optionally process-order edges);
 * 4. splits it into strongly connected components (Tarjan) and in each looks for
 *    a short cycle of each class: G0, G1c, G-single, G-nonadjacent, G2.
 *
 * Isolation levels (no real-time edges: serializability, not strict):
 * - 'serializable' forbids every anomaly;
 * - 'snapshot' allows G2 cycles whose rw edges include two adjacent ones (write
 *   skew): they are reported as informational. G-nonadjacent (two or more rw
 *   edges, none adjacent) and everything else are forbidden.
 */
import { type Anomaly, CYCLE_ANOMALY_TYPES, type CycleAnomalyType } from './anomaly.js';
import { findCycleAnomalies } from './cycle-anomalies.js';
import { buildDependencyGraph } from './dependency-graph.js';
import type { History } from './history.js';
import { HistoryIndex } from './history-index.js';
import { findReadAnomalies } from './read-anomalies.js';
import { inferVersionOrders } from './version-order.js';

export type { Anomaly, AnomalyType } from './anomaly.js';
export type { History, Operation, Outcome, Transaction } from './history.js';

export type Isolation = 'serializable' | 'snapshot';

export interface CheckOptions {
  readonly isolation: Isolation;
  /** Also order each process's committed transactions (default false). */
  readonly processOrder?: boolean;
}

export interface CheckResult {
  /** No anomaly the isolation level forbids. */
  readonly valid: boolean;
  readonly anomalies: readonly Anomaly[];
  /** Size of the dependency graph, for test diagnostics. */
  readonly graph: { readonly transactions: number; readonly edges: number };
}

/** Cycle classes each isolation level allows. */
const ALLOWED_CYCLES: Record<Isolation, readonly CycleAnomalyType[]> = {
  serializable: [],
  snapshot: ['G2'],
};

export function checkHistory(history: History, options: CheckOptions): CheckResult {
  const processOrder = options.processOrder ?? false;
  const index = new HistoryIndex(history);
  const versionOrders = inferVersionOrders(index);
  const graph = buildDependencyGraph(index, versionOrders.orders, { processOrder });
  const cycles = findCycleAnomalies(graph, { types: CYCLE_ANOMALY_TYPES, processOrder });
  const anomalies = [...findReadAnomalies(index), ...versionOrders.anomalies, ...cycles].map((found) =>
    isAllowed(found, options.isolation) ? { ...found, informational: true } : found,
  );
  return {
    valid: anomalies.every((found) => found.informational),
    anomalies,
    graph: { transactions: graph.vertices().length, edges: graph.edgeCount() },
  };
}

function isAllowed(found: Anomaly, isolation: Isolation): boolean {
  const cycleType = found.type.replace(/-process$/, '');
  return ALLOWED_CYCLES[isolation].some((allowed) => allowed === cycleType);
}

/** One line per anomaly, for assertion messages. */
export function describeAnomalies(anomalies: readonly Anomaly[]): string {
  return anomalies
    .map((found) => `${found.informational ? '(allowed) ' : ''}${found.type}: ${found.explanation}`)
    .join('\n');
}
