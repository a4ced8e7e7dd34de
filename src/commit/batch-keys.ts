/**
 * A batch's repeated keys (prepare.ts prepareBatch): for each operation, the position
 * of the earlier operation on the same key, through an open-addressing table of
 * positions in an Int32Array, kept across batches and cleared after each. A Set of the
 * keys (and a Map of positions from the first repeat on) cost about half of
 * prepareBatch's CPU in a bulk load (~90 of ~190 ns per put, 10,000-put batches of
 * 16-byte keys), its growth copies garbage per put (64 B, issue 7).
 *
 * The hash is FNV-1a over the key's chars (at most the first and the last
 * KEY_HASH_EDGE_CHARS of a long key) from a per-process random seed. A probe longer
 * than batchKeySettings.probeMax (keys made to collide) makes `earlierPosition` answer
 * TABLE_GAVE_UP, and the caller goes on with a Map: no batch costs more than that
 * bound per key here.
 *
 * Invariants: a table is used by one call at a time (takeKeyTable hands the kept one
 * out and a nested call, from a caller's getter, gets a fresh one); every slot is 0 when
 * a table is handed out; a slot holds a position + 1 of the latest operation on its
 * key, an operation the caller's array holds.
 */
import { getRandomValues } from 'node:crypto';
import { assert } from '../util/assert.js';

/** The chars hashed at each end of a key longer than twice this (all of a shorter one). */
export const KEY_HASH_EDGE_CHARS = 32;
/** The largest table kept between batches (slots; 4 bytes each): a 16,384-put batch's. */
export const KEY_TABLE_KEPT_SLOTS = 1 << 15;
/** earlierPosition's answer once a probe ran past batchKeySettings.probeMax. */
export const TABLE_GAVE_UP = -2;

/** `probeMax`: the longest probe before the table gives up (tests lower it). */
export const batchKeySettings = { probeMax: 64 };

const seed = getRandomValues(new Uint32Array(1))[0]! | 0;
let kept: Int32Array | undefined;

/** FNV-1a of `key`'s chars (both ends of a long key) and its length, from the process's seed. */
function keyHash(key: string): number {
  const length = key.length;
  let hash = seed ^ length;
  const head = length <= 2 * KEY_HASH_EDGE_CHARS ? length : KEY_HASH_EDGE_CHARS;
  for (let index = 0; index < head; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  if (head < length) {
    for (let index = length - KEY_HASH_EDGE_CHARS; index < length; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  }
  return hash ^ (hash >>> 16);
}

/** The table of one batch's key positions (takeKeyTable; giveBack when the batch is done). */
export class KeyTable {
  readonly #slots: Int32Array;
  /** Slots in use: a power of two, at least twice the batch's operations. */
  readonly #size: number;

  constructor(slots: Int32Array, size: number) {
    this.#slots = slots;
    this.#size = size;
  }

  /**
   * Records `key` at `position` and answers the position of the latest earlier operation
   * on it (-1: none), or TABLE_GAVE_UP (nothing recorded) after a probe longer than
   * batchKeySettings.probeMax. `operations[p]` is the operation at position p (defined
   * wherever a slot points).
   */
  earlierPosition(key: string, position: number, operations: readonly ({ key: string } | undefined)[]): number {
    const slots = this.#slots;
    const mask = this.#size - 1;
    const probeMax = batchKeySettings.probeMax;
    let slot = keyHash(key) & mask;
    for (let probe = 0; probe <= probeMax; probe++) {
      const held = slots[slot]!;
      if (held === 0) {
        slots[slot] = position + 1;
        return -1;
      }
      if (operations[held - 1]!.key === key) {
        slots[slot] = position + 1;
        return held - 1;
      }
      slot = (slot + 1) & mask;
    }
    return TABLE_GAVE_UP;
  }

  /** Clears the slots used and keeps the table for the next batch if none is kept. */
  giveBack(): void {
    this.#slots.fill(0, 0, this.#size);
    if (kept === undefined && this.#slots.length <= KEY_TABLE_KEPT_SLOTS) kept = this.#slots;
  }
}

/** A cleared table for a batch of `count` operations: the kept one when it is free and large enough. */
export function takeKeyTable(count: number): KeyTable {
  let size = 2;
  while (size < 2 * count) size *= 2;
  const table = kept;
  if (table !== undefined && table.length >= size) {
    kept = undefined;
    return new KeyTable(table, size);
  }
  assert(Number.isSafeInteger(size), 'a batch table size is a safe integer');
  // A new table is at least the kept size, so the next batch can keep it.
  return new KeyTable(new Int32Array(Math.max(size, KEY_TABLE_KEPT_SLOTS)), size);
}
