/**
 * Reads racing writes that are not awaited one by one, checkpoints and compactions in
 * flight, against a model checked once every write of a round has settled: each get and
 * scan answers as of the visible version at its call (store.version read in the same
 * synchronous step), however its steps interleave with commits, seals, flush installs
 * and merges.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flush-settings.js';
import { flushWorkerBuilt } from '../src/engine/flush-thread-workers.js';
import { mulberry32 as seeded } from './support/seeded-random.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
type History = Array<{ version: number; value: string | undefined }>;

function valueAsOf(history: History | undefined, version: number): string | undefined {
  let value: string | undefined;
  for (const entry of history ?? []) if (entry.version <= version) value = entry.value;
  return value;
}

function modelScan(model: Map<string, History>, version: number, gte: string | undefined, reverse: boolean, limit: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, history] of model) {
    if (gte !== undefined && (reverse ? key > gte : key < gte)) continue;
    const value = valueAsOf(history, version);
    if (value !== undefined) out.push([key, value]);
  }
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (reverse) out.reverse();
  return out.slice(0, limit);
}

async function runRound(seed: number, maxVersionsPerKey: number, sequential: boolean, directory?: string): Promise<number> {
  const random = seeded(seed);
  const store = await openStore(directory ?? '/db', {
    ...(directory === undefined ? { fileSystem: new FaultFileSystem(seed) } : {}),
    keyEncoding: 'binary',
    maxVersionsPerKey,
    memoryBudgetBytes: 256 * 1024,
    segmentSizeBytes: 16 * 1024,
    walCheckpointBytes: 64 * 1024,
  });
  const model = new Map<string, History>();
  let counter = 0;
  const pool: Buffer[] = [];
  const keyFor = (): Buffer => {
    if (sequential ? random() < 0.7 : pool.length < 300 && random() < 0.5) {
      counter++;
      const key = sequential ? Buffer.from(`s${String(counter).padStart(7, '0')}`) : Buffer.from(Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * 256)));
      pool.push(key);
      return key;
    }
    return pool[Math.floor(random() * pool.length)] ?? Buffer.from('x');
  };
  const value = (): Buffer => {
    const bytes = Buffer.alloc(random() < 0.05 ? 3000 : Math.floor(random() * 120));
    for (let at = 0; at < bytes.length; at++) bytes[at] = Math.floor(random() * 256);
    return bytes;
  };
  const checks: Array<() => void> = [];
  let compared = 0;
  for (let round = 0; round < 40; round++) {
    const work: Array<Promise<unknown>> = [];
    for (let op = 0; op < 40; op++) {
      const roll = random();
      if (roll < 0.5) {
        const key = keyFor();
        const written = random() < 0.2 ? undefined : value();
        const copy = written === undefined ? undefined : hex(written);
        const pending = written === undefined ? store.delete(key) : store.put(key, written);
        work.push(pending.then(({ version }) => {
          const history = model.get(hex(key)) ?? [];
          history.push({ version, value: copy });
          history.sort((a, b) => a.version - b.version);
          model.set(hex(key), history);
        }));
      } else if (roll < 0.7) {
        const key = pool[Math.floor(random() * pool.length)] ?? Buffer.from('x');
        const version = store.version;
        work.push(store.get(key).then((got) => {
          checks.push(() => expect((got as Uint8Array | undefined) === undefined ? undefined : hex(got as Uint8Array), `get ${seed}/${round} ${hex(key)} @${version}`).toBe(valueAsOf(model.get(hex(key)), version)));
        }));
      } else if (roll < 0.85) {
        const from = pool[Math.floor(random() * pool.length)];
        const reverse = random() < 0.5;
        const limit = random() < 0.5 ? 60 : Infinity;
        const options: Record<string, unknown> = { reverse };
        if (from !== undefined) options[reverse ? 'lte' : 'gte'] = from;
        if (limit !== Infinity) options.limit = limit;
        const version = store.version;
        const iterator = store.scan(options);
        work.push((async () => {
          const got: Array<[string, string]> = [];
          for await (const [key, entry] of iterator) {
            got.push([hex(key as Uint8Array), hex(entry as Uint8Array)]);
            if (random() < 0.05) await new Promise((resolve) => setImmediate(resolve));
          }
          checks.push(() => expect(got, `scan ${seed}/${round} ${JSON.stringify({ from: from && hex(from), reverse, limit, version })}`).toEqual(modelScan(model, version, from && hex(from), reverse, limit)));
        })());
      } else if (roll < 0.9) {
        work.push(store.checkpoint());
      } else if (roll < 0.92) {
        work.push(store.compact());
      } else {
        const key = pool[Math.floor(random() * pool.length)] ?? Buffer.from('x');
        const version = store.version;
        work.push(store.history(key, { limit: 2 }).then((entries) => {
          checks.push(() => {
            // Pinned readers keep more than maxVersionsPerKey: at least that many, each exact.
            const all = (model.get(hex(key)) ?? []).filter((entry) => entry.version <= version).reverse();
            const got = entries.map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : hex(entry.value as Uint8Array) }));
            expect(got, `history ${seed}/${round} ${hex(key)} @${version}`).toEqual(all.slice(0, got.length));
            expect(got.length).toBeGreaterThanOrEqual(Math.min(2, maxVersionsPerKey, all.length));
          });
        }));
      }
    }
    await Promise.all(work);
    for (const check of checks) check();
    compared += checks.length;
    checks.length = 0;
  }
  expect(store.stats().oldestPinnedVersion).toBeUndefined();
  await store.close();
  return compared;
}

describe('reads racing unawaited writes, checkpoints and compactions', () => {
  for (const seed of [41, 42, 43]) {
    it(`seed ${seed}, random keys`, async () => {
      expect(await runRound(seed, seed === 43 ? 1 : 1000, false)).toBeGreaterThan(200);
    });
    it(`seed ${seed}, sequential keys`, async () => {
      expect(await runRound(seed + 100, seed === 43 ? 1 : 1000, true)).toBeGreaterThan(200);
    });
  }
});

describe('the same on the real file system, flushes packed for the flush thread', () => {
  const directory = mkdtempSync(join(tmpdir(), 'read-review-'));
  beforeAll(async () => {
    await ensureMergeWorkerBuilt();
  }, 180_000);
  afterAll(() => {
    flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
    rmSync(directory, { recursive: true, force: true });
  });
  for (const seed of [52]) {
    it(`seed ${seed}`, async () => {
      expect(flushWorkerBuilt()).toBe(true);
      flushSettings.threadMinMemtableBytes = 0;
      expect(await runRound(seed, seed === 52 ? 1 : 1000, false, join(directory, `r${seed}`))).toBeGreaterThan(200);
      expect(await runRound(seed + 100, seed === 52 ? 1 : 1000, true, join(directory, `s${seed}`))).toBeGreaterThan(200);
    });
  }
});
