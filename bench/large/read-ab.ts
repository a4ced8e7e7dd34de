/**
 * Two builds' point reads compared in ONE process, pass by pass (not part of `npm run
 * bench`; run by hand for a read-path change on a shared, busy machine):
 *
 *   node dist/bench/large/read-ab.js <build A root> <build B root> <loaded store directory> [rounds] [gets per pass] [kinds]
 *
 * A build root is a directory holding a built `dist/` (and node_modules beside or above
 * it): the build before a change and the build with it. The store directory is what
 * large-child.ts's load phase leaves (its `store` inside), settled or not; each build
 * opens a copy of its own (two stores, two caches), both copies wait until no compaction
 * runs, then the rounds alternate: in each round, for each kind (`uniform`, `skewed`:
 * the bench's seeds over 1M keys), a pass of awaited gets through A and one through B
 * (the order swapped every round), on the next `gets` keys of the same sequence, so
 * both read the same keys in the same order. The figure is the main thread's CPU per
 * get (schedstat's first field), the median over the rounds after the first quarter
 * (warm-up), and in how many rounds B used less than A.
 *
 * Why: separate processes alternated A/B/A/B on this 2-core host with other work on it
 * (load 8-10) spread a pass's CPU per get by 10-50%, more than the changes being
 * weighed. Passes of a few hundred milliseconds alternated in one process see nearly
 * the same load. Calibration, the same code on both sides (12 rounds of 20,000 gets,
 * 9 counted, load 6-8, 2026-12-03): medians 0-3% apart for uniform gets and 2% for
 * skewed in two runs, 13% and 19% in a third; so a difference under ~5%, or one that
 * does not repeat in a second run, is not read as one.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { KEY_SIZE_BYTES, keyAt, skewedIndexes, uniformIndexes } from '../data.js';

const KEY_COUNT = 1_000_000;
type Kind = 'uniform' | 'skewed';

interface StoreUnderTest {
  get(key: Uint8Array): Promise<unknown>;
  stats(): { storage: { compaction: { running: boolean } } };
  close(): Promise<void>;
}

interface Side {
  readonly name: string;
  readonly store: StoreUnderTest;
  readonly copy: string;
  readonly cpuUsPerGet: Record<Kind, number[]>;
}

/** The main thread's CPU time so far, ns (schedstat's first field). */
function mainCpuNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

function packed(indexes: Uint32Array): Buffer {
  const keys = Buffer.allocUnsafeSlow(indexes.length * KEY_SIZE_BYTES);
  indexes.forEach((index, position) => keyAt(index, 'random').copy(keys, position * KEY_SIZE_BYTES));
  return keys;
}

async function openSide(name: string, root: string, source: string): Promise<Side> {
  const module = (await import(pathToFileURL(join(root, 'dist/src/index.js')).href)) as { openStore(directory: string, options: object): Promise<StoreUnderTest> };
  const copy = mkdtempSync(join(dirname(source), `read-ab-${name}-`));
  cpSync(join(source, 'store'), join(copy, 'store'), { recursive: true });
  const store = await module.openStore(join(copy, 'store'), { keyEncoding: 'binary', memoryBudgetBytes: 64 * 1024 * 1024 });
  return { name, store, copy, cpuUsPerGet: { uniform: [], skewed: [] } };
}

/** One pass of `gets` awaited gets of keys[from..]: the main thread's CPU per get, us. */
async function pass(store: StoreUnderTest, keys: Buffer, from: number, gets: number): Promise<number> {
  const before = mainCpuNs();
  for (let position = from; position < from + gets; position++) {
    const value = await store.get(keys.subarray(position * KEY_SIZE_BYTES, (position + 1) * KEY_SIZE_BYTES));
    if (value === undefined) throw new Error(`get ${position} missed a written key`);
  }
  return (mainCpuNs() - before) / 1000 / gets;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

async function main(): Promise<void> {
  const [rootA, rootB, source] = process.argv.slice(2);
  if (rootA === undefined || rootB === undefined || source === undefined) throw new Error('usage: read-ab.js <build A root> <build B root> <loaded store directory> [rounds] [gets] [kinds]');
  const rounds = Number(process.argv[5] ?? '24');
  const gets = Number(process.argv[6] ?? '20000');
  const kinds = (process.argv[7] ?? 'uniform,skewed').split(',') as Kind[];
  const keys: Record<Kind, Buffer> = {
    uniform: packed(uniformIndexes(rounds * gets, KEY_COUNT, 1)),
    skewed: packed(skewedIndexes(rounds * gets, KEY_COUNT, 2)),
  };
  const sides = [await openSide('A', rootA, source), await openSide('B', rootB, source)] as const;
  try {
    for (const side of sides) while (side.store.stats().storage.compaction.running) await new Promise((resolve) => setTimeout(resolve, 20));
    for (let round = 0; round < rounds; round++) {
      for (const kind of kinds) {
        const order = round % 2 === 0 ? [sides[0], sides[1]] : [sides[1], sides[0]];
        for (const side of order) side.cpuUsPerGet[kind].push(await pass(side.store, keys[kind], round * gets, gets));
      }
    }
    const warmUp = Math.floor(rounds / 4);
    for (const kind of kinds) {
      const a = sides[0].cpuUsPerGet[kind].slice(warmUp);
      const b = sides[1].cpuUsPerGet[kind].slice(warmUp);
      const lower = b.filter((value, index) => value < (a[index] as number)).length;
      process.stdout.write(`${JSON.stringify({ kind, rounds: a.length, getsPerPass: gets, medianCpuUsPerGetA: Math.round(median(a) * 100) / 100, medianCpuUsPerGetB: Math.round(median(b) * 100) / 100, roundsBLower: lower })}\n`);
    }
  } finally {
    for (const side of sides) {
      await side.store.close();
      rmSync(side.copy, { recursive: true, force: true });
    }
  }
}

await main();
