/**
 * Anomalies visible in single reads, without the dependency graph: aborted reads
 * (G1a), intermediate reads (G1b), garbage reads, duplicate elements, and reads
 * that contradict their own transaction's earlier operations (internal).
 *
 * Only committed transactions' reads are checked (see history-index.ts).
 */
import { anomaly, type Anomaly } from './anomaly.js';
import {
  type Element,
  formatList,
  formatTransaction,
  type History,
  isAppend,
  type Key,
  type Transaction,
} from './history.js';
import type { HistoryIndex, ObservedRead } from './history-index.js';

export function findReadAnomalies(index: HistoryIndex): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const read of index.committedReads()) {
    anomalies.push(...elementAnomalies(index, read), ...intermediateRead(index, read));
  }
  anomalies.push(...internalInconsistencies(index.transactions));
  return anomalies;
}

function describeRead(read: ObservedRead): string {
  return `${formatTransaction(read.transaction.id)} read key ${JSON.stringify(read.key)} as ${formatList(read.list)}`;
}

/** What one pass over a read's elements found wrong with them. */
interface ElementFindings {
  /** Elements nobody appended. */
  readonly garbage: Element[];
  /** Elements seen more than once. */
  readonly repeated: Set<Element>;
  /** Elements appended by failed transactions, with the transaction. */
  readonly aborted: { element: Element; writer: Transaction }[];
}

function scanElements(index: HistoryIndex, read: ObservedRead): ElementFindings {
  const findings: ElementFindings = { garbage: [], repeated: new Set(), aborted: [] };
  const seen = new Set<Element>();
  for (const element of read.list ?? []) {
    if (seen.has(element)) findings.repeated.add(element);
    seen.add(element);
    const writer = index.writer(read.key, element);
    if (writer === undefined) findings.garbage.push(element);
    else if (writer.outcome === 'fail') findings.aborted.push({ element, writer });
  }
  return findings;
}

/** Garbage reads, duplicate elements, and aborted reads (G1a). */
function elementAnomalies(index: HistoryIndex, read: ObservedRead): Anomaly[] {
  const { garbage, repeated, aborted } = scanElements(index, read);
  const reader = read.transaction.id;
  const anomalies: Anomaly[] = [];
  if (garbage.length > 0) {
    anomalies.push(anomaly('garbage-read', `${describeRead(read)}, but nobody appended ${garbage.join(', ')}`, [reader]));
  }
  if (repeated.size > 0) {
    const explanation = `${describeRead(read)}, which holds ${[...repeated].join(', ')} more than once`;
    anomalies.push(anomaly('duplicate-elements', explanation, [reader]));
  }
  for (const { element, writer } of aborted) {
    const explanation = `${describeRead(read)}, but ${element} was appended by ${formatTransaction(writer.id)}, which failed`;
    anomalies.push(anomaly('G1a', explanation, [writer.id, reader]));
  }
  return anomalies;
}

/** G1b: the read ended in an element its (other) writer appended past later on. */
function intermediateRead(index: HistoryIndex, read: ObservedRead): Anomaly[] {
  const last = read.list?.at(-1);
  if (last === undefined) return [];
  const site = index.appendSite(read.key, last);
  if (site === undefined || site.transaction === read.transaction) return [];
  const later = laterAppend(site.transaction, read.key, site.operationIndex);
  if (later === undefined) return [];
  const writer = formatTransaction(site.transaction.id);
  const explanation = `${describeRead(read)}, but ${writer} appended ${later} after ${last}: the read saw ${writer}'s intermediate state`;
  return [anomaly('G1b', explanation, [site.transaction.id, read.transaction.id])];
}

function laterAppend(transaction: Transaction, key: Key, afterIndex: number): Element | undefined {
  for (const operation of transaction.operations.slice(afterIndex + 1)) {
    if (isAppend(operation) && operation[1] === key) return operation[2];
  }
  return undefined;
}

/**
 * What a transaction knows of a key so far: the whole list (after it read it), or
 * only the elements it appended itself (which must end any list it reads next).
 */
type KnownState = { readonly whole: readonly Element[] } | { readonly ownSuffix: readonly Element[] };

function internalInconsistencies(history: History): Anomaly[] {
  return history.filter((transaction) => transaction.outcome === 'ok').flatMap(internalInconsistency);
}

function internalInconsistency(transaction: Transaction): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const known = new Map<Key, KnownState>();
  for (const operation of transaction.operations) {
    const key = operation[1];
    const state = known.get(key);
    if (isAppend(operation)) {
      known.set(key, afterAppend(state, operation[2]));
      continue;
    }
    const list = operation[2] ?? [];
    if (state !== undefined && !agrees(state, list)) {
      anomalies.push(internalAnomaly(transaction, key, operation[2], state));
    }
    known.set(key, { whole: list });
  }
  return anomalies;
}

function afterAppend(state: KnownState | undefined, element: Element): KnownState {
  if (state === undefined) return { ownSuffix: [element] };
  if ('whole' in state) return { whole: [...state.whole, element] };
  return { ownSuffix: [...state.ownSuffix, element] };
}

function agrees(state: KnownState, list: readonly Element[]): boolean {
  if ('whole' in state) return list.length === state.whole.length && endsWith(list, state.whole);
  return endsWith(list, state.ownSuffix);
}

function endsWith(list: readonly Element[], suffix: readonly Element[]): boolean {
  if (suffix.length > list.length) return false;
  const offset = list.length - suffix.length;
  return suffix.every((element, position) => list[offset + position] === element);
}

function internalAnomaly(transaction: Transaction, key: Key, list: readonly Element[] | null, state: KnownState): Anomaly {
  const expected =
    'whole' in state ? formatList(state.whole) : `a list ending in its own appends ${formatList(state.ownSuffix)}`;
  const explanation =
    `${formatTransaction(transaction.id)} read key ${JSON.stringify(key)} as ${formatList(list)}, ` +
    `but its own earlier operations imply ${expected}`;
  return anomaly('internal', explanation, [transaction.id]);
}
