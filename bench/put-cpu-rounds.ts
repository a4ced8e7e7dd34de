/**
 * CPU per put of 64 concurrent writers, round by round, as the bench runs them (issue 12):
 * each round opens a fresh store in one process (its own flush thread, started at its
 * first large flush, and merge thread), puts `puts / 3` unmeasured, then `puts` measured,
 * and closes it. bench/put-cpu.ts measures one store; this shows what a store's first
 * seconds cost beside a warm process: the main isolate's code is compiled after round 1,
 * but every round's flush and merge threads are new isolates that load and compile their
 * modules again (V8's helper threads run that compilation: `startupThreads` below).
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/put-cpu-rounds.js [puts] [random|sequential] [rounds] [directory]
 *   node dist/bench/put-cpu-rounds.js 250000 sequential 4 /dev/shm
 *
 * Prints one JSON line per round: puts/s and CPU µs per put of the main thread, of the
 * threads that existed before the first store opened (V8's helpers, libuv's pool:
 * `startupThreadsCpuUsPerPut`), of the threads started since (`laterThreadsCpuUsPerPut`:
 * this round's flush and merge threads), and of the process, by /proc/self/task/<id>/schedstat
 * (Linux). Keys and values as bench/put-cpu.ts (bench/data.ts keyAt, one random 100 B
 * value); the store as the bench's ladybug adapter opens it (keyEncoding 'binary').
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { openStore } from '../src/index.js';
import { keyAt, type KeyOrder } from './data.js';
import { threadCpuNs } from './thread-cpu.js';

const WRITERS = 64;
const VALUE_BYTES = 100;

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? '250000');
  const order = process.argv[3] ?? 'sequential';
  const rounds = Number(process.argv[4] ?? '3');
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`puts must be a positive integer, got ${process.argv[2]}`);
  if (order !== 'random' && order !== 'sequential') throw new RangeError(`key order must be random or sequential, got ${order}`);
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer, got ${process.argv[4]}`);
  const parent = process.argv[5] ?? tmpdir();
  const startupThreads = new Set(readdirSync('/proc/self/task'));
  const mainId = String(process.pid);
  const value = randomBytes(VALUE_BYTES);
  for (let round = 1; round <= rounds; round++) {
    const directory = mkdtempSync(join(parent, 'ladybug-put-cpu-rounds-'));
    try {
      const store = await openStore(join(directory, 'store'), { keyEncoding: 'binary' });
      let index = 0;
      const putUpTo = async (end: number): Promise<void> => {
        const writer = async (): Promise<void> => {
          while (index < end) await store.put(keyAt(index++, order as KeyOrder), value);
        };
        await Promise.all(Array.from({ length: WRITERS }, writer));
      };
      await putUpTo(Math.ceil(count / 3));
      const before = threadCpuNs();
      const startedMs = performance.now();
      await putUpTo(index + count);
      const wallMs = performance.now() - startedMs;
      const after = threadCpuNs();
      const byGroup = { main: 0, startup: 0, later: 0 };
      for (const [id, ns] of after) {
        const threadNs = ns - (before.get(id) ?? 0);
        byGroup[id === mainId ? 'main' : startupThreads.has(id) ? 'startup' : 'later'] += threadNs;
      }
      const perPutUs = (ns: number): number => Number((ns / count / 1_000).toFixed(2));
      const flushes = store.stats().storage.flushes;
      await store.close();
      console.log(JSON.stringify({
        bench: 'put-cpu-rounds', round, puts: count, writers: WRITERS, valueBytes: VALUE_BYTES, keyOrder: order,
        putsPerSecond: Math.round((count * 1_000) / wallMs),
        mainThreadCpuUsPerPut: perPutUs(byGroup.main),
        startupThreadsCpuUsPerPut: perPutUs(byGroup.startup),
        laterThreadsCpuUsPerPut: perPutUs(byGroup.later),
        processCpuUsPerPut: perPutUs(byGroup.main + byGroup.startup + byGroup.later),
        flushes,
      }));
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

await main();
