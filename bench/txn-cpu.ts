/**
 * Main-thread CPU of one low-contention transaction (issue 12), counted over a fixed
 * number of transactions rather than a fixed time, so two builds compare by work done.
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/txn-cpu.js [transactions] [serializable|snapshot|serial|batch] [directory]
 *   LADYBUG_TXN_CPU_PROFILE=/tmp/txn.cpuprofile node dist/bench/txn-cpu.js 200000  # where the time goes
 *
 * The bench's txn-low-contention workload (bench/workloads/transactions.ts), without
 * the bench around it: a store opened as the bench's ladybug adapter opens it
 * (keyEncoding 'binary', every other option at its default) in a new temporary
 * directory (under `directory` when given: /dev/shm takes the disk out), 100,000
 * accounts preloaded in batches of 10,000 (16-byte random-order keys, 8-byte float64
 * balances). As in the bench, the preload nearly fills the active memtable: it seals
 * early in the measured transactions and is flushed under them, and reads of accounts
 * not yet written reach the run afterwards (LADYBUG_TXN_CPU_CHECKPOINT=1 checkpoints
 * after the preload instead; LADYBUG_TXN_CPU_OPTIONS takes more openStore options as
 * JSON, e.g. '{"memoryBudgetBytes":2147483648}' so nothing seals: the transaction path
 * alone). Then CLIENTS clients in closed
 * loops, each running transfers between 2 distinct accounts drawn uniformly, through
 * the variant's call as the adapter makes it (bench/engines/ladybug.ts), until
 * `transactions` committed. A warm-up of a tenth of that runs first, not counted.
 *
 * Prints one JSON line: transactions/s, main-thread CPU µs per transaction (from
 * /proc/thread-self/schedstat: this thread alone, not the flush and merge threads;
 * process.cpuUsage() elsewhere), attempts, and whether the total was conserved
 * (every account read back; a changed total means lost updates). The machine's
 * other load shows in the figures: compare builds alternately. With
 * LADYBUG_TXN_CPU_PROFILE set, the measured transactions alone (not the preload, the
 * warm-up or the check) are CPU-profiled (100 µs sampling) into that file; with
 * LADYBUG_TXN_CPU_HEAP_PROFILE, their allocations are sampled (every 256 bytes on
 * average, collected objects included) into that file.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { openStore } from '../src/index.js';
import { keyAt } from './data.js';

const ACCOUNTS = 100_000;
const CLIENTS = 64;
const PRELOAD_BATCH = 10_000;
const INITIAL_BALANCE = 1_000_000;
const MAX_AMOUNT = 100;

type Variant = 'serializable' | 'snapshot' | 'serial' | 'batch';
type Store = Awaited<ReturnType<typeof openStore>>;

/** CPU ns of this thread so far (schedstat), or of the process where that is missing. */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) * 1_000;
  }
}

function encodeBalance(balance: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleBE(balance, 0);
  return bytes;
}

function decodeBalance(value: unknown): number {
  if (!(value instanceof Uint8Array) || value.length !== 8) throw new Error('account balance missing or malformed');
  return new DataView(value.buffer, value.byteOffset, 8).getFloat64(0);
}

function pickPair(): [number, number] {
  const from = Math.floor(Math.random() * ACCOUNTS);
  let to = Math.floor(Math.random() * (ACCOUNTS - 1));
  if (to >= from) to += 1;
  return [from, to];
}

/** One transfer through `variant`, as bench/engines/ladybug.ts makes it; the attempts (body runs). */
async function transfer(store: Store, variant: Variant, keys: readonly Buffer[], amount: number): Promise<number> {
  let attempts = 0;
  if (variant === 'batch') {
    await store.batch(keys.map((key, index) => ({ type: 'put' as const, key, value: encodeBalance(INITIAL_BALANCE + (index === 0 ? -amount : amount)) })));
    return 1;
  }
  if (variant === 'serial') {
    await store.transactionSync((tx) => {
      attempts += 1;
      const values = keys.map((key) => decodeBalance(tx.get(key)));
      tx.put(keys[0]!, encodeBalance(values[0]! - amount));
      tx.put(keys[1]!, encodeBalance(values[1]! + amount));
    });
    return attempts;
  }
  await store.transaction(async (tx) => {
    attempts += 1;
    const values: number[] = [];
    for (const key of keys) values.push(decodeBalance(await tx.get(key)));
    tx.put(keys[0]!, encodeBalance(values[0]! - amount));
    tx.put(keys[1]!, encodeBalance(values[1]! + amount));
  }, { isolation: variant, retries: 10 });
  return attempts;
}

async function runClients(store: Store, variant: Variant, accounts: readonly Buffer[], count: number, touched: Uint8Array): Promise<number> {
  let started = 0;
  let attempts = 0;
  const client = async (): Promise<void> => {
    while (started < count) {
      started++;
      const [from, to] = pickPair();
      touched[from] = 1;
      touched[to] = 1;
      // Not `attempts += await ...`: that reads `attempts` before the await.
      const made = await transfer(store, variant, [accounts[from]!, accounts[to]!], 1 + Math.floor(Math.random() * MAX_AMOUNT));
      attempts += made;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return attempts;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 100_000);
  const variant = (process.argv[3] ?? 'serializable') as Variant;
  if (!['serializable', 'snapshot', 'serial', 'batch'].includes(variant)) throw new RangeError(`unknown variant ${variant}`);
  const directory = mkdtempSync(join(process.argv[4] ?? tmpdir(), 'ladybug-txn-cpu-'));
  // Figures are only comparable between runs of the same count: the preload's flush falls inside the measured transactions.
  try {
    const store = await openStore(directory, { keyEncoding: 'binary', ...JSON.parse(process.env['LADYBUG_TXN_CPU_OPTIONS'] ?? '{}') });
    const accounts = Array.from({ length: ACCOUNTS }, (_unused, index) => keyAt(index, 'random'));
    const initial = encodeBalance(INITIAL_BALANCE);
    for (let first = 0; first < ACCOUNTS; first += PRELOAD_BATCH) {
      await store.batch(accounts.slice(first, first + PRELOAD_BATCH).map((key) => ({ type: 'put' as const, key, value: initial })));
    }
    if (process.env['LADYBUG_TXN_CPU_CHECKPOINT'] === '1') await store.checkpoint();
    const afterLoad = store.stats().storage;
    const touched = new Uint8Array(ACCOUNTS);
    await runClients(store, variant, accounts, Math.ceil(count / 10), touched);
    const profilePath = process.env['LADYBUG_TXN_CPU_PROFILE'];
    const session = profilePath === undefined ? undefined : new Session();
    if (session !== undefined) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const heapPath = process.env['LADYBUG_TXN_CPU_HEAP_PROFILE'];
    const heapSession = heapPath === undefined ? undefined : new Session();
    if (heapSession !== undefined) {
      heapSession.connect();
      await heapSession.post('HeapProfiler.enable');
      // Collected objects included: what a transaction allocates, not only what survives.
      await heapSession.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    const startedMs = performance.now();
    const cpuBefore = threadCpuNs();
    const attempts = await runClients(store, variant, accounts, count, touched);
    const cpuNs = threadCpuNs() - cpuBefore;
    const wallMs = performance.now() - startedMs;
    if (heapSession !== undefined) {
      const { profile } = await heapSession.post('HeapProfiler.stopSampling');
      writeFileSync(heapPath!, JSON.stringify(profile));
      heapSession.disconnect();
    }
    if (session !== undefined) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profilePath!, JSON.stringify(profile));
      session.disconnect();
    }
    let total = 0;
    let touchedCount = 0;
    for (let index = 0; index < ACCOUNTS; index++) {
      if (touched[index] === 0) continue;
      total += decodeBalance(await store.get(accounts[index]!));
      touchedCount++;
    }
    await store.close();
    console.log(JSON.stringify({
      bench: 'txn-cpu', variant, transactions: count, clients: CLIENTS, runsAfterLoad: afterLoad.runs, flushesAfterLoad: afterLoad.flushes,
      transactionsPerSecond: Math.round((count * 1_000) / wallMs),
      mainThreadCpuUsPerTransaction: Number((cpuNs / count / 1_000).toFixed(2)),
      retriesPerCommit: Number(((attempts - count) / count).toFixed(4)),
      conserved: variant === 'batch' ? 'not checked' : total === touchedCount * INITIAL_BALANCE,
    }));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
