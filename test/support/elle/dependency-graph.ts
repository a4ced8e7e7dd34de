/**
 * The dependency graph between committed transactions (Adya's direct
 * serialization graph, inferred from list-append observations).
 *
 * Vertices: 'ok' transactions, and 'info' transactions some committed read saw
 * a write of (so they did commit). Edges, for a key k with version order
 * [..., x, y, ...]:
 * - ww  T1 -> T2  T1 appended x and T2 appended y, the next element;
 * - wr  T1 -> T2  T2's external read of k ended in an element T1 appended;
 * - rw  T1 -> T2  T1's external read of k was the order up to x (or empty) and T2
 *                 appended y, the element after it (an anti-dependency);
 * - process       T1 -> T2 when T2 is the next committed transaction of T1's
 *                 process (only if asked for).
 * Edges from a transaction to itself are dropped, and so are edges to or from
 * elements nobody (or a failed transaction) appended: those are reported as
 * read anomalies instead.
 */
import {
  type Element,
  formatList,
  formatTransaction,
  isAppend,
  type Key,
  type Transaction,
  type TransactionId,
} from './history.js';
import type { HistoryIndex } from './history-index.js';
import type { VersionOrders } from './version-order.js';

export type EdgeKind = 'ww' | 'wr' | 'rw' | 'process';

export interface Edge {
  readonly from: TransactionId;
  readonly to: TransactionId;
  readonly kind: EdgeKind;
  /** Why the edge exists, e.g. "T2 appended 5 to key "x" right after T1's 4". */
  readonly reason: string;
}

export class DependencyGraph {
  readonly #outgoing = new Map<TransactionId, Edge[]>();

  addVertex(id: TransactionId): void {
    if (!this.#outgoing.has(id)) this.#outgoing.set(id, []);
  }

  hasVertex(id: TransactionId): boolean {
    return this.#outgoing.has(id);
  }

  /** Adds the edge unless it is a self-loop or the same (from, to, kind) exists. */
  addEdge(edge: Edge): void {
    if (edge.from === edge.to) return;
    const edges = this.#outgoing.get(edge.from);
    if (edges === undefined || !this.hasVertex(edge.to)) throw new Error(`edge between unknown vertices: ${edge.reason}`);
    if (!edges.some((existing) => existing.to === edge.to && existing.kind === edge.kind)) edges.push(edge);
  }

  vertices(): TransactionId[] {
    return [...this.#outgoing.keys()];
  }

  outgoing(id: TransactionId): readonly Edge[] {
    return this.#outgoing.get(id) ?? [];
  }

  edgeCount(): number {
    let count = 0;
    for (const edges of this.#outgoing.values()) count += edges.length;
    return count;
  }
}

export interface GraphOptions {
  /** Add process-order edges (each process's committed transactions in history order). */
  readonly processOrder: boolean;
}

export function buildDependencyGraph(index: HistoryIndex, orders: VersionOrders, options: GraphOptions): DependencyGraph {
  const graph = new DependencyGraph();
  const committed = committedTransactions(index);
  for (const transaction of committed) graph.addVertex(transaction.id);
  const builder = new EdgeBuilder(index, graph);
  for (const [key, order] of orders) builder.addWriteWriteEdges(key, order);
  for (const transaction of committed) {
    if (transaction.outcome !== 'ok') continue;
    for (const [key, list] of index.externalReads(transaction)) {
      builder.addWriteReadEdge(transaction, key, list ?? []);
      const order = orders.get(key);
      if (order !== undefined) builder.addReadWriteEdge(transaction, key, list ?? [], order);
    }
  }
  if (options.processOrder) addProcessEdges(committed, graph);
  return graph;
}

/** 'ok' transactions, plus 'info' ones whose appends a committed read saw, in history order. */
function committedTransactions(index: HistoryIndex): Transaction[] {
  const indeterminateKeys = new Set(
    index.transactions
      .filter((transaction) => transaction.outcome === 'info')
      .flatMap((transaction) => transaction.operations.filter(isAppend).map((operation) => operation[1])),
  );
  const observed = new Set<TransactionId>();
  for (const read of index.committedReads()) {
    if (!indeterminateKeys.has(read.key)) continue;
    for (const element of read.list ?? []) {
      const writer = index.writer(read.key, element);
      if (writer?.outcome === 'info') observed.add(writer.id);
    }
  }
  return index.transactions.filter((transaction) => transaction.outcome === 'ok' || observed.has(transaction.id));
}

class EdgeBuilder {
  readonly #index: HistoryIndex;
  readonly #graph: DependencyGraph;

  constructor(index: HistoryIndex, graph: DependencyGraph) {
    this.#index = index;
    this.#graph = graph;
  }

  addWriteWriteEdges(key: Key, order: readonly Element[]): void {
    for (let position = 1; position < order.length; position++) {
      const previous = order[position - 1] as Element;
      const next = order[position] as Element;
      const from = this.#committedWriter(key, previous);
      const to = this.#committedWriter(key, next);
      if (from === undefined || to === undefined) continue;
      const reason = `${formatTransaction(to)} appended ${next} to key ${JSON.stringify(key)} right after ${formatTransaction(from)}'s ${previous}`;
      this.#graph.addEdge({ from, to, kind: 'ww', reason });
    }
  }

  addWriteReadEdge(reader: Transaction, key: Key, list: readonly Element[]): void {
    const last = list.at(-1);
    if (last === undefined) return;
    const from = this.#committedWriter(key, last);
    if (from === undefined) return;
    const reason = `${formatTransaction(reader.id)} read key ${JSON.stringify(key)} as ${formatList(list)}, ending in ${formatTransaction(from)}'s append of ${last}`;
    this.#graph.addEdge({ from, to: reader.id, kind: 'wr', reason });
  }

  addReadWriteEdge(reader: Transaction, key: Key, list: readonly Element[], order: readonly Element[]): void {
    const next = order[list.length];
    if (next === undefined) return;
    const to = this.#committedWriter(key, next);
    if (to === undefined) return;
    const reason = `${formatTransaction(reader.id)} read key ${JSON.stringify(key)} as ${formatList(list)}, missing ${formatTransaction(to)}'s append of ${next}, the next element`;
    this.#graph.addEdge({ from: reader.id, to, kind: 'rw', reason });
  }

  #committedWriter(key: Key, element: Element): TransactionId | undefined {
    const writer = this.#index.writer(key, element);
    return writer !== undefined && this.#graph.hasVertex(writer.id) ? writer.id : undefined;
  }
}

function addProcessEdges(committed: readonly Transaction[], graph: DependencyGraph): void {
  const lastByProcess = new Map<number, TransactionId>();
  for (const transaction of committed) {
    const previous = lastByProcess.get(transaction.process);
    if (previous !== undefined) {
      const reason = `${formatTransaction(transaction.id)} ran after ${formatTransaction(previous)} on process ${transaction.process}`;
      graph.addEdge({ from: previous, to: transaction.id, kind: 'process', reason });
    }
    lastByProcess.set(transaction.process, transaction.id);
  }
}
