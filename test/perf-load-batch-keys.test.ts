/**
 * prepareBatch finds a batch's repeated keys through a table of positions kept across
 * batches (src/commit/batch-keys.ts) instead of a Set and a Map: what it returns must not
 * change (one operation per key, the last one named for it, in the order of those last
 * operations, the size of what is kept), with the table used whole, given up at once
 * (probeMax 0: the Map from the first collision on), or given up midway (probeMax 1),
 * for batches a seeded generator makes with many repeats; and a batch prepared from
 * inside another one (an operation's getter) does not disturb the outer one's table.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { batchKeySettings, KEY_TABLE_KEPT_SLOTS } from '../src/commit/batch-keys.js';
import { prepareBatch, prepareDelete, preparePut, type BatchOperation } from '../src/commit/prepare.js';
import { internalKey } from '../src/codec/keys.js';
import { OPERATION_PUT } from '../src/wal/wal-format.js';
import { mulberry32 } from './transaction-support.js';

const VALUE_BYTES_MAX = 1 << 20;
const COMMIT_BYTES_MAX = 1 << 28;
const PROBE_MAX = batchKeySettings.probeMax;

afterEach(() => {
  batchKeySettings.probeMax = PROBE_MAX;
});

/** A seeded batch: keys from a pool of `distinct` (short, long with a shared prefix, binary), puts and dels. */
function randomBatch(seed: number, count: number, distinct: number): BatchOperation[] {
  const random = mulberry32(seed);
  const pool = Array.from({ length: distinct }, (_, index) => {
    switch (index % 3) {
      case 0: return `k${index}`;
      case 1: return `${'p'.repeat(90)}/${index}`; // longer than both hashed ends: differs in the middle and the end
      default: return Uint8Array.of(index & 0xff, index >>> 8, 0, 200);
    }
  });
  return Array.from({ length: count }, (_, index) => {
    const key = pool[Math.floor(random() * distinct)]!;
    return random() < 0.2 ? { type: 'del' as const, key } : { type: 'put' as const, key, value: random() < 0.5 ? `v${index}` : Uint8Array.of(index & 0xff) };
  });
}

/** What prepareBatch must give: the last operation per key, in the order of the last operations, and their size. */
function expected(operations: BatchOperation[]): { keys: string[]; types: number[]; sizeBytes: number } {
  const last = new Map<string, number>();
  operations.forEach((operation, index) => last.set(internalKey(operation.key), index));
  const kept = operations.filter((operation, index) => last.get(internalKey(operation.key)) === index);
  let sizeBytes = 0;
  for (const operation of kept) sizeBytes += (operation.type === 'put' ? preparePut(operation.key, operation.value, VALUE_BYTES_MAX) : prepareDelete(operation.key)).operationsSizeBytes;
  return { keys: kept.map((operation) => internalKey(operation.key)), types: kept.map((operation) => (operation.type === 'put' ? OPERATION_PUT : 2)), sizeBytes };
}

function check(operations: BatchOperation[]): void {
  const prepared = prepareBatch(operations, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
  const want = expected(operations);
  expect(prepared.walOperations.map((operation) => operation.key)).toEqual(want.keys);
  expect(prepared.walOperations.map((operation) => operation.type)).toEqual(want.types);
  expect(prepared.operationsSizeBytes).toBe(want.sizeBytes);
}

describe('prepareBatch with the table of key positions', () => {
  it.each([PROBE_MAX, 0, 1])('gives the last operation per key, in order, with probeMax %i', (probeMax) => {
    batchKeySettings.probeMax = probeMax;
    for (let seed = 1; seed <= 12; seed++) {
      const count = [1, 2, 7, 300, 5000, KEY_TABLE_KEPT_SLOTS / 2 + 3][seed % 6]!;
      check(randomBatch(seed, count, Math.max(1, Math.floor(count / (1 + (seed % 4))))));
    }
  });

  it('a batch prepared inside another one (a getter) leaves the outer one exact', () => {
    const inner = randomBatch(99, 500, 200);
    let innerKeys: string[] = [];
    const outer = randomBatch(98, 2000, 700);
    const trap = { type: 'put' as const, get key() {
      innerKeys = prepareBatch(inner, VALUE_BYTES_MAX, COMMIT_BYTES_MAX).walOperations.map((operation) => operation.key as string);
      return 'k1';
    }, value: 'trap' };
    const withTrap = [...outer.slice(0, 1000), trap, ...outer.slice(1000)];
    const prepared = prepareBatch(withTrap, VALUE_BYTES_MAX, COMMIT_BYTES_MAX);
    expect(innerKeys).toEqual(expected(inner).keys);
    const plain = [...outer.slice(0, 1000), { type: 'put' as const, key: 'k1', value: 'trap' }, ...outer.slice(1000)];
    expect(prepared.walOperations.map((operation) => operation.key)).toEqual(expected(plain).keys);
    // The kept table was cleared: the next batch finds no stale position.
    check(randomBatch(97, 3000, 1000));
  });
});
