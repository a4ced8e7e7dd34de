/**
 * Infers each key's version order: the order in which its elements were appended.
 *
 * With append-only lists every committed read of a key is a prefix of the key's
 * final list, so the longest read is the best known version order and every other
 * read must be a prefix of it. A read that is not is an 'incompatible-order'
 * anomaly; such a key gets no version order (it is left out of the ww and rw
 * edges, so the cycles reported rest only on consistent evidence).
 *
 * Appends nobody has read yet have no known position and are not in the order.
 */
import { anomaly, type Anomaly } from './anomaly.js';
import { type Element, formatList, formatTransaction, type Key } from './history.js';
import type { HistoryIndex, ObservedRead } from './history-index.js';

export type VersionOrders = ReadonlyMap<Key, readonly Element[]>;

export interface VersionOrderResult {
  readonly orders: VersionOrders;
  readonly anomalies: readonly Anomaly[];
}

export function inferVersionOrders(index: HistoryIndex): VersionOrderResult {
  const readsByKey = groupReadsByKey(index.committedReads());
  const orders = new Map<Key, readonly Element[]>();
  const anomalies: Anomaly[] = [];
  for (const key of index.keys()) {
    const reads = readsByKey.get(key) ?? [];
    const longest = longestRead(reads);
    const conflicting = reads.filter((read) => !isPrefix(read.list ?? [], longest?.list ?? []));
    const firstConflict = conflicting[0];
    if (longest === undefined || firstConflict === undefined) {
      orders.set(key, longest?.list ?? []);
    } else {
      anomalies.push(incompatibleOrder(key, longest, firstConflict, conflicting.length));
    }
  }
  return { orders, anomalies };
}

/** True when `prefix` is a prefix of `list` (equal lists included). */
export function isPrefix(prefix: readonly Element[], list: readonly Element[]): boolean {
  if (prefix.length > list.length) return false;
  return prefix.every((element, position) => list[position] === element);
}

function groupReadsByKey(reads: readonly ObservedRead[]): Map<Key, ObservedRead[]> {
  const byKey = new Map<Key, ObservedRead[]>();
  for (const read of reads) {
    const group = byKey.get(read.key);
    if (group === undefined) byKey.set(read.key, [read]);
    else group.push(read);
  }
  return byKey;
}

function longestRead(reads: readonly ObservedRead[]): ObservedRead | undefined {
  let longest: ObservedRead | undefined;
  for (const read of reads) {
    if (longest === undefined || (read.list?.length ?? 0) > (longest.list?.length ?? 0)) longest = read;
  }
  return longest;
}

function incompatibleOrder(key: Key, longest: ObservedRead, conflict: ObservedRead, conflictCount: number): Anomaly {
  const conflictList = conflict.list ?? [];
  const longestList = longest.list ?? [];
  const position = conflictList.findIndex((element, at) => longestList[at] !== element);
  const explanation =
    `key ${JSON.stringify(key)}: ${formatTransaction(conflict.transaction.id)} read ${formatList(conflict.list)} ` +
    `but ${formatTransaction(longest.transaction.id)} read ${formatList(longest.list)}; ` +
    `they first differ at position ${position} (${conflictList[position]} vs ${longestList[position]}), ` +
    `so neither is a prefix of the other (${conflictCount} read(s) disagree with the longest)`;
  return anomaly('incompatible-order', explanation, [conflict.transaction.id, longest.transaction.id]);
}
