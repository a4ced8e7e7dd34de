/**
 * Second review of 7407e18 (a point read's KeyProbe carries its key's four-byte prefix,
 * compared with each run's key range and top-level index before any key bytes):
 * - the signed prefix orders every pair of keys of up to 4 bytes drawn from 0x00, 0x01,
 *   0x7f, 0x80, 0x81, 0xff (shorter keys, keys that are a prefix of another, top-bit
 *   bytes) as their bytes do, and is a small integer (int32);
 * - through a store, keys crowded onto a few prefixes (ties everywhere, short keys that
 *   are prefixes of longer ones, 0x00/0x80/0xff bytes), spread over several runs of
 *   several partitions each, read back as a model says: get, get asOf, a snapshot's
 *   get, several gets in one transaction (a probe per key, never another key's) and
 *   history, for present keys and absent neighbours (one byte more or less, truncated).
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { keyPrefix, signedKeyPrefix } from '../src/run/key-prefix.js';

const BYTES = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff];

function allKeys(maxLength: number): string[] {
  let level = [''];
  const keys = [''];
  for (let length = 1; length <= maxLength; length++) {
    level = level.flatMap((key) => BYTES.map((byte) => key + String.fromCharCode(byte)));
    keys.push(...level);
  }
  return keys;
}

describe('signedKeyPrefix orders keys as their bytes', () => {
  it('every pair of keys up to 4 bytes over 0x00/0x01/0x7f/0x80/0x81/0xff', () => {
    const keys = allKeys(4);
    const prefixes = keys.map(signedKeyPrefix);
    let wrong = 0;
    for (let i = 0; i < keys.length; i++) {
      expect(prefixes[i]).toBe(prefixes[i]! | 0);
      expect(prefixes[i]! ^ 0x80000000).toBe(keyPrefix(keys[i]!) | 0);
      for (let j = 0; j < keys.length; j++) {
        const byKey = keys[i]! < keys[j]! ? -1 : keys[i]! > keys[j]! ? 1 : 0;
        const byPrefix = prefixes[i]! < prefixes[j]! ? -1 : prefixes[i]! > prefixes[j]! ? 1 : 0;
        // A prefix difference decides (in the keys' direction); a tie says nothing.
        if (byPrefix !== 0 && byPrefix !== byKey) wrong++;
      }
    }
    expect(wrong).toBe(0);
  });
});

function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 32;
  };
}

const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');

describe('point reads of keys crowded onto few prefixes, over several runs', () => {
  it('get, get asOf, snapshot, transaction and history answer the model', async () => {
    const next = random(7407);
    const byte = (): number => (next() < 0.7 ? BYTES[Math.floor(next() * BYTES.length)]! : Math.floor(next() * 256));
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(3) });
    // hex key -> [version, value | undefined][], oldest first
    const model = new Map<string, Array<[number, string | undefined]>>();
    const keys = new Map<string, Uint8Array>();
    const remember = (key: Uint8Array) => keys.set(hex(key), key);
    try {
      for (let run = 0; run < 3; run++) {
        const operations: Array<{ type: 'put'; key: Uint8Array; value: string } | { type: 'del'; key: Uint8Array }> = [];
        for (let index = 0; index < 5000; index++) {
          const length = next() < 0.15 ? 1 + Math.floor(next() * 4) : 4 + Math.floor(next() * 40);
          const key = Uint8Array.from({ length }, byte);
          const known = [...keys.values()];
          const target = run > 0 && next() < 0.2 && known.length > 0 ? known[Math.floor(next() * known.length)]! : key;
          remember(target);
          operations.push(next() < 0.1 ? { type: 'del', key: target } : { type: 'put', key: target, value: `r${run}i${index}` });
        }
        // One key once per batch (the model applies them in order, as the store does).
        for (let start = 0; start < operations.length; start += 500) {
          const chunk = operations.slice(start, start + 500);
          const { version } = await store.batch(chunk);
          for (const operation of chunk) {
            const entries = model.get(hex(operation.key)) ?? [];
            const value = operation.type === 'put' ? operation.value : undefined;
            if (entries.at(-1)?.[0] === version) entries[entries.length - 1] = [version, value];
            else entries.push([version, value]);
            model.set(hex(operation.key), entries);
          }
        }
        await store.checkpoint();
      }
      const newest = store.version;
      const valueAt = (key: Uint8Array, version: number) => [...(model.get(hex(key)) ?? [])].reverse().find(([at]) => at <= version)?.[1];
      // Absent neighbours: one byte more (0x00, 0xff), the last byte one less or more, truncated.
      const probes: Uint8Array[] = [...keys.values()];
      for (const key of [...keys.values()].slice(0, 3000)) {
        probes.push(Uint8Array.of(...key, 0x00), Uint8Array.of(...key, 0xff), key.subarray(0, Math.max(1, key.length - 1)));
        const last = key[key.length - 1]!;
        if (last > 0) probes.push(Uint8Array.of(...key.subarray(0, -1), last - 1));
        if (last < 255) probes.push(Uint8Array.of(...key.subarray(0, -1), last + 1));
      }
      const snapshot = await store.snapshot();
      const after = await store.put(Uint8Array.of(0x80), 'after the snapshot');
      model.set('80', [...(model.get('80') ?? []), [after.version, 'after the snapshot']]);
      remember(Uint8Array.of(0x80));
      let mismatches: string[] = [];
      for (const key of probes) {
        const got = await store.get(key);
        const expected = valueAt(key, after.version);
        if (got !== expected) mismatches.push(`get ${hex(key)}: ${String(got)} != ${String(expected)}`);
        const atSnapshot = await snapshot.get(key);
        if (atSnapshot !== valueAt(key, newest)) mismatches.push(`snapshot get ${hex(key)}: ${String(atSnapshot)}`);
        const asOf = 1 + Math.floor(next() * after.version);
        const old = await store.get(key, { asOf });
        if (old !== valueAt(key, asOf)) mismatches.push(`get ${hex(key)} asOf ${asOf}: ${String(old)} != ${String(valueAt(key, asOf))}`);
      }
      expect(mismatches.slice(0, 10)).toEqual([]);
      // Several keys in one transaction: each read its own probe.
      mismatches = [];
      for (let start = 0; start < 600; start += 50) {
        const group = probes.slice(start * 7, start * 7 + 50);
        const got = await store.transaction(async (transaction) => Promise.all(group.map((key) => transaction.get(key))));
        group.forEach((key, index) => {
          const expected = valueAt(key, after.version);
          if (got[index] !== expected) mismatches.push(`transaction get ${hex(key)}: ${String(got[index])}`);
        });
      }
      expect(mismatches.slice(0, 10)).toEqual([]);
      for (const key of [...keys.values()].slice(0, 500)) {
        const history = (await store.history(key)).map((entry) => [entry.version, entry.deleted ? undefined : entry.value]);
        expect(history, hex(key)).toEqual([...(model.get(hex(key)) ?? [])].reverse());
      }
      await snapshot.release();
    } finally {
      await store.close();
    }
  }, 300_000);
});
