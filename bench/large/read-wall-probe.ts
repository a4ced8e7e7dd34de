/**
 * Where the wall time of large-child.ts's read phase goes (not part of `npm run bench`):
 *
 *   node dist/bench/large/read-wall-probe.js <store directory> [build root] [settle: 0|1]
 *
 * Does what the read phase does (open with the bench's options, the first get, 200,000
 * awaited uniform gets, 200,000 skewed, the bench's seeds and packed keys) on the store
 * directory given (a copy: it is opened in place), and every WINDOW gets prints one
 * line, per get: wall us, the main thread's CPU and its run-queue wait (schedstat's
 * first two fields: wall minus both is time blocked, on I/O or an idle event loop),
 * the process's CPU (all threads, /proc/self/stat: the rest is the merge, flush and
 * compression threads), KiB read from disk (/proc/self/io read_bytes: page-cache
 * misses); then whether a compaction is in flight, the run count, the block cache's
 * hits, misses, compressed-tier hits, refused admissions and evictions, scrub blocks
 * checked, heap and external MiB. GC: run under `node --trace-gc` (a PerformanceObserver
 * of 'gc' delivers its entries on an event-loop turn, which a loop of gets settling in
 * microtasks gives only while a compaction is in flight, so it misplaces them).
 * `settle` 1 waits until no compaction runs before the gets (what read-ab.ts measures).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { KEY_SIZE_BYTES, keyAt, skewedIndexes, uniformIndexes } from '../data.js';

const KEY_COUNT = 1_000_000;
const READ_COUNT = 200_000;
const WINDOW = 20_000;

interface Storage {
  runs: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  blockCacheCompressedHits: number;
  blockCacheAdmissionsRefused: number;
  blockCacheEvictions: number;
  blockCacheBytes: number;
  compaction: { running: boolean; compactions: number };
  scrub: { blocksChecked: number };
}
interface ProbedStore {
  get(key: Uint8Array): Promise<unknown>;
  stats(): { storage: Storage };
  close(): Promise<void>;
}

const schedstat = (): string[] => readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ');
const mainCpuMs = (): number => Number(schedstat()[0]) / 1e6;
/** The main thread's time runnable but waiting for a core, ms (schedstat's second field). */
const mainWaitMs = (): number => Number(schedstat()[1]) / 1e6;
function processCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
const readBytes = (): number => Number(/read_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);

function packed(indexes: Uint32Array): Buffer {
  const keys = Buffer.allocUnsafeSlow(indexes.length * KEY_SIZE_BYTES);
  indexes.forEach((index, position) => keyAt(index, 'random').copy(keys, position * KEY_SIZE_BYTES));
  return keys;
}

interface Mark { wall: number; main: number; wait: number; proc: number; disk: number }
const mark = (): Mark => ({ wall: performance.now(), main: mainCpuMs(), wait: mainWaitMs(), proc: processCpuMs(), disk: readBytes() });

function line(label: string, from: Mark, store: ProbedStore, gets: number): void {
  const to = mark();
  const s = store.stats().storage;
  const us = (ms: number) => Math.round((ms * 1000 * 10) / gets) / 10;
  process.stdout.write(
    `${label} wallUs/get ${us(to.wall - from.wall)} mainCpuUs/get ${us(to.main - from.main)} waitUs/get ${us(to.wait - from.wait)} procCpuUs/get ${us(to.proc - from.proc)} diskKiB ${Math.round((to.disk - from.disk) / 1024)} | compacting ${s.compaction.running ? 1 : 0} compactions ${s.compaction.compactions} runs ${s.runs} hits ${s.blockCacheHits} misses ${s.blockCacheMisses} compressedHits ${s.blockCacheCompressedHits} scrubBlocks ${s.scrub.blocksChecked} refused ${s.blockCacheAdmissionsRefused} evictions ${s.blockCacheEvictions} blockCacheBytes ${s.blockCacheBytes} heapMiB ${Math.round(process.memoryUsage().heapUsed / 1048576)} extMiB ${Math.round(process.memoryUsage().external / 1048576)}\n`,
  );
}

async function gets(label: string, store: ProbedStore, keys: Buffer): Promise<void> {
  const count = keys.length / KEY_SIZE_BYTES;
  const whole = mark();
  let from = whole;
  for (let position = 0; position < count; position++) {
    const value = await store.get(keys.subarray(position * KEY_SIZE_BYTES, (position + 1) * KEY_SIZE_BYTES));
    if (value === undefined) throw new Error(`get ${position} missed`);
    if ((position + 1) % WINDOW === 0) {
      line(`${label} ${position + 1 - WINDOW}..`, from, store, WINDOW);
      from = mark();
    }
  }
  line(`${label} whole`, whole, store, count);
}

async function main(): Promise<void> {
  const [directory, root = process.cwd(), settle = '0'] = process.argv.slice(2);
  if (directory === undefined) throw new Error('usage: read-wall-probe.js <store directory> [build root] [settle]');
  const module = (await import(pathToFileURL(join(root, 'dist/src/index.js')).href)) as { openStore(directory: string, options: object): Promise<ProbedStore> };
  const opened = mark();
  const store = await module.openStore(directory, { keyEncoding: 'binary', memoryBudgetBytes: 64 * 1024 * 1024 });
  if ((await store.get(keyAt(KEY_COUNT >>> 1, 'random'))) === undefined) throw new Error('first get missed');
  line('open+first', opened, store, 1);
  if (settle === '1') {
    const start = mark();
    while (store.stats().storage.compaction.running) await new Promise((resolve) => setTimeout(resolve, 20));
    line('settle', start, store, 1);
  }
  const uniform = packed(uniformIndexes(READ_COUNT, KEY_COUNT, 1));
  const skewed = packed(skewedIndexes(READ_COUNT, KEY_COUNT, 2));
  await gets('uniform', store, uniform);
  await gets('skewed', store, skewed);
  const closing = mark();
  await store.close();
  line('close', closing, store, 1);
}

await main();
