/**
 * Anomalies the checker reports.
 *
 * Cycle anomalies (found in the dependency graph, strongest first):
 * - G0             a cycle of write-write (ww) edges only (dirty write);
 * - G1c            a cycle of ww and write-read (wr) edges with at least one wr;
 * - G-single       a cycle with exactly one read-write anti-dependency (rw) edge
 *                  (read skew, lost update);
 * - G-nonadjacent  a cycle with two or more rw edges, no two of them adjacent
 *                  (forbidden by snapshot isolation too);
 * - G2             a cycle with two or more rw edges (G2-item, e.g. write skew).
 * A cycle that needs a process-order edge gets the suffix '-process'.
 *
 * Anomalies seen directly in the reads:
 * - G1a                aborted read: a read saw an element a failed transaction appended;
 * - G1b                intermediate read: a read ended in an element its writer later
 *                      appended past, in the same transaction;
 * - internal           a read disagrees with its own transaction's earlier reads or
 *                      appends of that key;
 * - garbage-read       a read saw an element nobody appended;
 * - duplicate-elements a read saw the same element twice;
 * - incompatible-order two reads of a key where neither is a prefix of the other.
 *
 * `informational` anomalies do not make the history invalid under the isolation
 * level checked (G2 under snapshot isolation).
 */
import type { TransactionId } from './history.js';

export const CYCLE_ANOMALY_TYPES = ['G0', 'G1c', 'G-single', 'G-nonadjacent', 'G2'] as const;
export type CycleAnomalyType = (typeof CYCLE_ANOMALY_TYPES)[number];

export type ReadAnomalyType =
  | 'G1a'
  | 'G1b'
  | 'internal'
  | 'garbage-read'
  | 'duplicate-elements'
  | 'incompatible-order';

export type AnomalyType = ReadAnomalyType | CycleAnomalyType | `${CycleAnomalyType}-process`;

export interface Anomaly {
  readonly type: AnomalyType;
  /** Human-readable: what was observed, or the cycle edge by edge. */
  readonly explanation: string;
  /** The transactions involved (for a cycle, in cycle order). */
  readonly transactions: readonly TransactionId[];
  /** True when the isolation level checked allows this anomaly. */
  readonly informational: boolean;
}

export function anomaly(type: AnomalyType, explanation: string, transactions: readonly TransactionId[]): Anomaly {
  return { type, explanation, transactions, informational: false };
}
