/**
 * Lookup tables over a history, built once and shared by every check.
 *
 * - who appended each element of each key (the first appender, should the
 *   workload break its uniqueness promise), and at which operation index;
 * - the reads of committed ('ok') transactions, the only reads trusted: a failed
 *   transaction's reads mean nothing and an indeterminate one reports none;
 * - each transaction's external read of a key: its first read of the key before
 *   it appended to that key itself (later reads include its own writes and are
 *   only checked for internal consistency).
 */
import {
  type Element,
  type History,
  isAppend,
  isRead,
  type Key,
  type Transaction,
  type TransactionId,
} from './history.js';

export interface AppendSite {
  readonly transaction: Transaction;
  /** Index of the append in the transaction's operations. */
  readonly operationIndex: number;
}

export interface ObservedRead {
  readonly transaction: Transaction;
  readonly key: Key;
  readonly list: readonly Element[] | null;
}

export class HistoryIndex {
  readonly transactions: History;
  readonly #appendSites = new Map<Key, Map<Element, AppendSite>>();
  readonly #committedReads: ObservedRead[] = [];
  readonly #externalReads = new Map<TransactionId, Map<Key, readonly Element[] | null>>();

  constructor(history: History) {
    this.transactions = history;
    for (const transaction of history) {
      this.#indexAppends(transaction);
      if (transaction.outcome === 'ok') this.#indexReads(transaction);
    }
  }

  /** The transaction that appended `element` to `key`, if any did. */
  appendSite(key: Key, element: Element): AppendSite | undefined {
    return this.#appendSites.get(key)?.get(element);
  }

  writer(key: Key, element: Element): Transaction | undefined {
    return this.appendSite(key, element)?.transaction;
  }

  /** Every read made by a committed transaction, in history order. */
  committedReads(): readonly ObservedRead[] {
    return this.#committedReads;
  }

  /** The committed transaction's external reads: key -> the list it first saw. */
  externalReads(transaction: Transaction): ReadonlyMap<Key, readonly Element[] | null> {
    return this.#externalReads.get(transaction.id) ?? new Map();
  }

  /** Keys appended to (by any transaction) or read by committed ones. */
  keys(): Key[] {
    const keys = new Set<Key>(this.#appendSites.keys());
    for (const read of this.#committedReads) keys.add(read.key);
    return [...keys];
  }

  #indexAppends(transaction: Transaction): void {
    transaction.operations.forEach((operation, operationIndex) => {
      if (!isAppend(operation)) return;
      const [, key, element] = operation;
      let sites = this.#appendSites.get(key);
      if (sites === undefined) {
        sites = new Map();
        this.#appendSites.set(key, sites);
      }
      if (!sites.has(element)) sites.set(element, { transaction, operationIndex });
    });
  }

  #indexReads(transaction: Transaction): void {
    const external = new Map<Key, readonly Element[] | null>();
    const appendedKeys = new Set<Key>();
    for (const operation of transaction.operations) {
      if (isAppend(operation)) {
        appendedKeys.add(operation[1]);
      } else if (isRead(operation)) {
        const [, key, list] = operation;
        this.#committedReads.push({ transaction, key, list });
        if (!appendedKeys.has(key) && !external.has(key)) external.set(key, list);
      }
    }
    this.#externalReads.set(transaction.id, external);
  }
}
