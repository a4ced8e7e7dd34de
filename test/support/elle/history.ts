/**
 * The list-append history model the Elle-style checker reads.
 *
 * A history is the list of transactions a test's clients ran, in the order they
 * completed. Each transaction is a sequence of micro-operations on keys whose
 * values are lists: an append adds one element at the end, a read reports the
 * whole list it saw (null when the key was absent). The workload guarantees that
 * each element is appended at most once per key, so an element names the write
 * that produced it.
 *
 * Outcomes: 'ok' committed, 'fail' definitely aborted (none of its appends may ever
 * be visible), 'info' unknown (it may or may not have committed; its reads carry
 * no information and are ignored).
 */

export type Key = string;
export type Element = number;
export type TransactionId = number;

export type AppendOperation = readonly ['append', Key, Element];
export type ReadOperation = readonly ['r', Key, readonly Element[] | null];
export type Operation = AppendOperation | ReadOperation;

export type Outcome = 'ok' | 'fail' | 'info';

export interface Transaction {
  readonly id: TransactionId;
  readonly process: number;
  readonly outcome: Outcome;
  readonly operations: readonly Operation[];
}

export type History = readonly Transaction[];

export function isAppend(operation: Operation): operation is AppendOperation {
  return operation[0] === 'append';
}

export function isRead(operation: Operation): operation is ReadOperation {
  return operation[0] === 'r';
}

/** Lists longer than this are shortened in explanations (their head and tail kept). */
const LIST_ELEMENTS_SHOWN = 8;

/** Renders a read result for explanations: `[1, 2, 3]`, `[1, 2, …, 8, 9, 10] (40 elements)` or `null`. */
export function formatList(list: readonly Element[] | null): string {
  if (list === null) return 'null';
  if (list.length <= LIST_ELEMENTS_SHOWN) return `[${list.join(', ')}]`;
  const head = list.slice(0, 2);
  const tail = list.slice(-(LIST_ELEMENTS_SHOWN - 3));
  return `[${head.join(', ')}, …, ${tail.join(', ')}] (${list.length} elements)`;
}

export function formatTransaction(id: TransactionId): string {
  return `T${id}`;
}
