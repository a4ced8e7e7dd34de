/**
 * A transaction's buffered writes, one per key (the last write of a key wins and
 * moves to the end), with the running total of their encoded bytes. Shared by
 * transaction() and transactionSync(), which enforce the same limits.
 *
 * Two forms (issue 12: most transactions write a handful of keys, and a Map per
 * transaction was one of its largest allocations):
 * - small (at most WRITE_SET_SMALL_KEYS_MAX keys): the operations themselves in one
 *   array, in write order, found by a linear search of their keys; operations()
 *   hands out that array itself, no copy;
 * - large (past it, for good): a Map by internal key in write order (a Map keeps
 *   insertion order, and delete-then-set moves a rewritten key to the end).
 *
 * Invariants: `bytes` is the sum of `operationSizeBytes` over the buffered operations;
 * exactly one of `#small` and `#large` is defined; each key appears once; at most
 * TRANSACTION_OPERATIONS_MAX keys; `bytes` never exceeds the commit limit given to
 * add(); the array operations() handed out never changes (a transaction is sealed
 * by then; a later add works on a copy).
 */
import { operationSizeBytes, type PreparedOperation } from '../commit/prepare.js';
import { TransactionLimitError } from '../errors.js';
import { TRANSACTION_OPERATIONS_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

/** Most keys the small form holds (a linear search of this many keys is cheaper than a Map per transaction). */
export const WRITE_SET_SMALL_KEYS_MAX = 8;

assert(WRITE_SET_SMALL_KEYS_MAX >= 1 && WRITE_SET_SMALL_KEYS_MAX < TRANSACTION_OPERATIONS_MAX, 'the small write set is a prefix of the limit');

/** The empty small form (shared, never written: the first add makes the set's own array). */
const NO_OPERATIONS: PreparedOperation[] = [];
Object.freeze(NO_OPERATIONS);

/**
 * `items` with `item` appended. Below SMALL_ARRAY_PUSH_FROM items it is a new array of
 * the exact length: a push grows an array to at least 17 slots (about 150 B), so a
 * one- or two-item array built by pushes costs several times one built whole.
 * From there on, a push onto `items` itself (returned).
 */
export function appendSmall<T>(items: T[], item: T): T[] {
  switch (items.length) {
    case 0: return [item];
    case 1: return [items[0]!, item];
    case 2: return [items[0]!, items[1]!, item];
    case 3: return [items[0]!, items[1]!, items[2]!, item];
    default:
      items.push(item);
      return items;
  }
}

export class WriteSet {
  /** The small form: the operations in the order of each key's last write. */
  #small: PreparedOperation[] | undefined = NO_OPERATIONS;
  /** The large form: by internal key, in the order of each key's last write. */
  #large: Map<string, PreparedOperation> | undefined;
  /** Set by operations(): the small array was handed out and must not change (a later add copies it first). */
  #sealed = false;
  bytes = 0;

  /** Keys buffered. */
  get size(): number {
    return this.#small === undefined ? this.#large!.size : this.#small.length;
  }

  /** The buffered operation for internal `key`, or undefined. */
  get(key: string): PreparedOperation | undefined {
    const small = this.#small;
    if (small === undefined) return this.#large!.get(key);
    for (let index = 0; index < small.length; index++) {
      const operation = small[index]!;
      if (operation.key === key) return operation;
    }
    return undefined;
  }

  /** Buffers one put or delete; a limit exceeded throws TransactionLimitError and buffers nothing. */
  add(prepared: PreparedOperation, commitBytesMax: number): void {
    const key = prepared.key;
    const previous = this.get(key);
    const bytes = this.bytes - (previous === undefined ? 0 : operationSizeBytes(previous)) + operationSizeBytes(prepared);
    if (previous === undefined && this.size >= TRANSACTION_OPERATIONS_MAX) {
      throw new TransactionLimitError('operations', `transaction writes more than ${TRANSACTION_OPERATIONS_MAX} keys`);
    }
    if (bytes > commitBytesMax) {
      throw new TransactionLimitError('bytes', `transaction writes ${bytes} bytes, over the limit of ${commitBytesMax} for one commit`);
    }
    this.bytes = bytes;
    let small = this.#small;
    if (small === undefined) {
      const large = this.#large!;
      large.delete(key);
      large.set(key, prepared);
      return;
    }
    if (previous !== undefined || this.#sealed) {
      // A rewrite moves the key to the end. The sealed case is never reached by a
      // transaction (sealed before its commit): the array handed out stays as it was.
      small = this.#small = small.filter((operation) => operation !== previous);
      this.#sealed = false;
    }
    this.#small = small = appendSmall(small, prepared);
    if (small.length > WRITE_SET_SMALL_KEYS_MAX) this.#grow(small);
  }

  /** Moves the small form into the Map form (past WRITE_SET_SMALL_KEYS_MAX keys), keeping the order. */
  #grow(small: readonly PreparedOperation[]): void {
    const large = new Map<string, PreparedOperation>();
    for (const operation of small) large.set(operation.key, operation);
    assert(large.size === small.length, 'the small write set holds each key once');
    this.#large = large;
    this.#small = undefined;
  }

  /** The buffered operations in write order, as a fresh array (a scan's view of its own writes). */
  values(): PreparedOperation[] {
    return this.#small === undefined ? [...this.#large!.values()] : this.#small.slice();
  }

  /** The buffered keys in write order, as a fresh array. */
  keys(): string[] {
    const small = this.#small;
    if (small !== undefined) {
      const keys = new Array<string>(small.length);
      for (let index = 0; index < small.length; index++) keys[index] = small[index]!.key;
      return keys;
    }
    return [...this.#large!.keys()];
  }

  /**
   * The buffered operations as one commit's array, in write order (the pipeline takes
   * it as both the WAL and the memory-index operations: prepare.ts's PreparedOperation
   * is both). The small form hands out its own array (unchanged by any later add).
   */
  operations(): PreparedOperation[] {
    this.#sealed = true;
    const small = this.#small;
    if (small !== undefined) return small;
    const large = this.#large!;
    const operations = new Array<PreparedOperation>(large.size);
    let index = 0;
    for (const operation of large.values()) operations[index++] = operation;
    assert(index === operations.length, 'one operation per buffered key');
    return operations;
  }
}
