/**
 * What a scan returns, against a model, over every path of a scan step: a key whose one
 * source is a memtable chain of one version (answered without resolveSlot), chains of
 * several versions, keys in runs and in the memtable at once, deletions, as-of reads,
 * both directions, limits, and a snapshot's scan; binary keys short enough to be copied
 * char by char and longer ones, byte values copied by the short loop and by the view
 * copy. Every key and value returned is a copy of its own: changing one changes
 * neither another answer nor what is stored.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { mulberry32 as seeded } from './support/seeded-random.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

type Model = Map<string, Array<{ version: number; value: Buffer | undefined }>>;

/** The model's live entries as of `version`, in key order (hex of the key bytes orders as the bytes). */
function modelAsOf(model: Model, version: number): Array<[string, string]> {
  const live: Array<[string, string]> = [];
  for (const [key, history] of model) {
    let value: Buffer | undefined;
    let found = false;
    for (const entry of history) {
      if (entry.version <= version) {
        value = entry.value;
        found = true;
      }
    }
    if (found && value !== undefined) live.push([key, hex(value)]);
  }
  return live.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function expected(live: Array<[string, string]>, from: string, reverse: boolean, limit: number): Array<[string, string]> {
  const inRange = live.filter(([key]) => (reverse ? key <= from : key >= from));
  if (reverse) inRange.reverse();
  return inRange.slice(0, limit);
}

async function collect(iterable: AsyncIterable<[string | Uint8Array, unknown]>): Promise<Array<[Uint8Array, Uint8Array]>> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for await (const [key, value] of iterable) out.push([key as Uint8Array, value as Uint8Array]);
  return out;
}

describe('scan-perf: scans through every step path read what was written', () => {
  it('matches a model across runs, memtable chains, deletions, as-of reads, both directions and limits', async () => {
    const random = seeded(20261204);
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(11), keyEncoding: 'binary', maxVersionsPerKey: 1000 });
    const model: Model = new Map();
    // 16-byte keys (the char loop), and 80-byte ones (past KEY_BYTES_COPIED_BY_LOOP_MAX).
    const keys = Array.from({ length: 400 }, (_, index) => {
      const key = Buffer.alloc(index % 5 === 0 ? 80 : 16);
      for (let byte = 0; byte < key.length; byte++) key[byte] = Math.floor(random() * 256);
      return key;
    });
    const versions: number[] = [];
    for (let round = 0; round < 6; round++) {
      const operations = [];
      for (let count = 0; count < 150; count++) {
        const key = keys[Math.floor(random() * keys.length)]!;
        const remove = round > 0 && random() < 0.2;
        // Values of 8 B (the short copy loop) and 100 B (the view copy), each distinct.
        const value = remove ? undefined : Buffer.alloc(random() < 0.5 ? 8 : 100, Math.floor(random() * 256));
        if (value !== undefined) value.writeUInt32BE((round << 16) | count, 0);
        operations.push(value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value });
      }
      await store.batch(operations);
      const version = store.version;
      versions.push(version);
      // Later writes of a key in one batch win, as in the store.
      const last = new Map<string, Buffer | undefined>();
      for (const operation of operations) last.set(hex(operation.key), operation.type === 'put' ? operation.value : undefined);
      for (const [key, value] of last) {
        const history = model.get(key) ?? [];
        history.push({ version, value });
        model.set(key, history);
      }
      // Rounds 0-2 go to runs; 3-5 stay in the memtable, over the runs' versions of the same keys.
      if (round < 3) await store.checkpoint();
    }
    expect(store.stats().storage.runs).toBeGreaterThan(0);

    const snapshot = await store.snapshot();
    let compared = 0;
    for (let trial = 0; trial < 60; trial++) {
      const from = keys[Math.floor(random() * keys.length)]!;
      const reverse = trial % 2 === 1;
      const limit = [1, 7, 100, 300, Infinity][trial % 5]!;
      const asOf = trial % 3 === 0 ? versions[Math.floor(random() * versions.length)]! : store.version;
      const options = { ...(reverse ? { lte: from, reverse: true } : { gte: from }), ...(limit === Infinity ? {} : { limit }) };
      const got = await collect(store.scan(trial % 3 === 0 ? { ...options, asOf } : options));
      const want = expected(modelAsOf(model, asOf), hex(from), reverse, limit);
      expect(got.map(([key, value]) => [hex(key), hex(value)])).toEqual(want);
      compared += want.length;
      if (trial % 6 === 1) {
        const fromSnapshot = await collect(snapshot.scan(options));
        expect(fromSnapshot.map(([key, value]) => [hex(key), hex(value)])).toEqual(want);
      }
    }
    expect(compared).toBeGreaterThan(1000);
    await snapshot.release();

    // Each key and value returned is its own copy.
    const first = await collect(store.scan({ limit: 50 }));
    const before = first.map(([key, value]) => [hex(key), hex(value)]);
    for (const [key, value] of first) {
      key.fill(0);
      value.fill(0);
    }
    const again = await collect(store.scan({ limit: 50 }));
    expect(again.map(([key, value]) => [hex(key), hex(value)])).toEqual(before);
    expect(new Set(again.map(([, value]) => value.buffer === first[0]![1].buffer && value.byteOffset === first[0]![1].byteOffset)).has(true)).toBe(false);
    await store.close();
  });
});
