/**
 * RecencyList: an intrusive doubly linked list of the block cache's slots, oldest to
 * newest, so that a hit (move to the newest end) and an eviction (take the oldest) are
 * O(1). The links live in the nodes (`older`, `newer`); a node is in at most one list.
 * (The block cache once used a Map's insertion order instead: V8 leaves a deleted entry
 * as a hole that iteration skips, so taking the oldest entry after many evictions
 * scanned the holes, 14% of a get's CPU on a 10M-key store.)
 *
 * Invariants: a node in the list has both links set; one removed (or never added) has
 * neither; the list's own sentinel closes the ring (its `newer` is the oldest node,
 * its `older` the newest; itself at both when empty).
 */

export interface RecencyNode {
  older: RecencyNode | undefined;
  newer: RecencyNode | undefined;
}

export class RecencyList<T extends RecencyNode> {
  readonly #sentinel: RecencyNode = { older: undefined, newer: undefined };

  constructor() {
    this.clear();
  }

  /** The oldest node, or undefined when empty. */
  oldest(): T | undefined {
    const node = this.#sentinel.newer!;
    return node === this.#sentinel ? undefined : (node as T);
  }

  /** True when `node` is the newest node. */
  isNewest(node: T): boolean {
    return this.#sentinel.older === node;
  }

  /** Adds `node` (in no list) at the newest end. */
  pushNewest(node: T): void {
    const newest = this.#sentinel.older!;
    node.older = newest;
    node.newer = this.#sentinel;
    newest.newer = node;
    this.#sentinel.older = node;
  }

  /** Adds `node` (in no list) at the oldest end: the next to be taken. */
  pushOldest(node: T): void {
    const oldest = this.#sentinel.newer!;
    node.newer = oldest;
    node.older = this.#sentinel;
    oldest.older = node;
    this.#sentinel.newer = node;
  }

  /** Takes `node` (in this list) out. */
  remove(node: T): void {
    node.older!.newer = node.newer;
    node.newer!.older = node.older;
    node.older = undefined;
    node.newer = undefined;
  }

  /** Empties the list (the nodes' own links are the caller's to clear). */
  clear(): void {
    this.#sentinel.older = this.#sentinel;
    this.#sentinel.newer = this.#sentinel;
  }

  /** The nodes, oldest first (debug checks). */
  *nodes(): IterableIterator<T> {
    for (let node = this.#sentinel.newer!; node !== this.#sentinel; node = node.newer!) yield node as T;
  }
}
