/**
 * One key with 20,000 versions spread over many runs (its versions cross many data
 * blocks of a run, whose index's last keys are all that key), beside its neighbours in
 * byte order: history with limits, get asOf every so many versions, after flushes, a
 * merge, a cold merge, retention (maxVersionsPerKey, compact({ retainFrom })) and a
 * reopen, each read compared with the list of versions written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { mulberry32, type Random } from './edge-review-support.js';

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

const KEY = 'k\uFFFF';
const NEIGHBOURS = ['k', 'k\uFFFF\u0000', 'k\u{10000}', 'k\uFFFE', 'k\uFFFFa'];
const CHUNK = 5_000;
const CHUNKS = 4;

interface Written { version: number; value: unknown; deleted: boolean }

async function writeChunk(store: Store, written: Written[], rng: Random, chunk: number): Promise<void> {
  for (let start = 0; start < CHUNK; start += 1000) {
    const pending: Array<Promise<Written>> = [];
    for (let index = start; index < start + 1000; index++) {
      const n = chunk * CHUNK + index;
      if (rng() < 0.02) pending.push(store.delete(KEY).then(({ version }) => ({ version, value: undefined, deleted: true })));
      else {
        const value = n % 3 === 0 ? '' : n % 3 === 1 ? n : new Uint8Array(n % 5);
        pending.push(store.put(KEY, value).then(({ version }) => ({ version, value, deleted: false })));
      }
    }
    for (const entry of await Promise.all(pending)) written.push(entry);
  }
  written.sort((a, b) => a.version - b.version);
  for (const neighbour of NEIGHBOURS) await store.put(neighbour, `${neighbour}:${chunk}`);
}

/** The model's history: versions at or above `from`'s current one, newest first, `kept` per key at most. */
function expectedHistory(written: readonly Written[], kept: number, floor: number): Written[] {
  let firstIndex = 0;
  for (let index = 0; index < written.length; index++) if (written[index]!.version <= floor) firstIndex = index;
  const visible = written.slice(firstIndex).filter((entry) => !(entry.deleted && entry.version <= floor));
  return visible.reverse().slice(0, kept);
}

/** The first place two lists differ, for a short message (a diff of 20,000 lines takes vitest minutes). */
function firstDifference(got: readonly string[], want: readonly string[]): string | undefined {
  for (let index = 0; index < Math.max(got.length, want.length); index++) {
    if (got[index] !== want[index]) return `at ${index} of ${got.length} (want ${want.length}): got ${got[index]}, want ${want[index]}; next got ${got.slice(index + 1, index + 4).join(' ')}; want ${want.slice(index + 1, index + 4).join(' ')}`;
  }
  return undefined;
}

function shape(entries: ReadonlyArray<{ version: number; value?: unknown; deleted: boolean }>): string[] {
  return entries.map((entry) => `${entry.version}:${entry.deleted ? 'deleted' : JSON.stringify(entry.value instanceof Uint8Array ? [...entry.value] : entry.value)}`);
}

async function checkKey(store: Store, written: readonly Written[], rng: Random, label: string, kept = Infinity, floor = 0): Promise<void> {
  const expected = expectedHistory(written, kept, floor);
  const full = await store.history(KEY);
  expect(full.length, `${label}: history length`).toBe(expected.length);
  expect(firstDifference(shape(full), shape(expected)), `${label}: history`).toBeUndefined();
  for (const limit of [1, 2, 7, 1 + Math.floor(rng() * 20_000)]) {
    expect(firstDifference(shape(await store.history(KEY, { limit })), shape(expected.slice(0, limit))), `${label}: history limit ${limit}`).toBeUndefined();
  }
  const oldestKept = expected.length === 0 ? Infinity : expected[expected.length - 1]!.version;
  // Every 2,500th version or so: an old version's get reads every block of the key above it (the index has no versions).
  for (let index = Math.floor(rng() * 2500); index < written.length; index += 2500) {
    const entry = written[index]!;
    if (entry.version < oldestKept || entry.version < floor) continue;
    expect(await store.get(KEY, { asOf: entry.version }), `${label}: get asOf ${entry.version}`).toEqual(entry.deleted ? undefined : entry.value);
  }
  const last = written[written.length - 1]!;
  expect(await store.get(KEY), `${label}: get`).toEqual(last.deleted ? undefined : last.value);
  const scanned = [];
  for await (const [key] of store.scan({ gte: 'k', lt: 'l' })) scanned.push(key);
  const live = [...NEIGHBOURS, ...(last.deleted ? [] : [KEY])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  expect(scanned, `${label}: scan`).toEqual(live);
}

describe('one key with 20,000 versions over many runs', () => {
  it('history, limits and as-of reads through flushes, merges, retention and a reopen', async () => {
    const rng = mulberry32(0x5e551);
    const directory = temporaryDirectory();
    compactionSettings.mergeThread = 'main';
    const written: Written[] = [];
    let store = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN });
    try {
      for (let chunk = 0; chunk < CHUNKS; chunk++) {
        await writeChunk(store, written, rng, chunk);
        if (chunk < CHUNKS - 1) await store.checkpoint();
      }
      await checkKey(store, written, rng, 'runs and memtable');
      await store.compact();
      await checkKey(store, written, rng, 'merged');
      await store.close();
      store = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN });
      await checkKey(store, written, rng, 'reopened');
      const floor = written[Math.floor(written.length * 0.6)]!.version;
      const result = await store.compact({ retainFrom: floor });
      expect(result.retentionFloor).toBe(floor);
      await checkKey(store, written, rng, 'retainFrom', Infinity, floor);
      await store.close();
      store = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, maxVersionsPerKey: 1234 });
      await checkKey(store, written, rng, 'maxVersionsPerKey 1234', 1234, floor);
      await store.compact();
      await checkKey(store, written, rng, 'maxVersionsPerKey 1234 compacted', 1234, floor);
    } finally {
      await store.close();
    }
  }, 60_000);
});
