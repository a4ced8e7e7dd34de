/**
 * The demo workload (`npm run demo`): a store in ./demo-store, durable writes from
 * concurrent writers, a real crash (a child process writing is killed with
 * SIGKILL) and the reopen that recovers it, an as-of read; then a store in
 * ./demo-store-large holding several times its memory budget in run files, a
 * clean reopen that replays nothing, a damaged run block repaired from parity on
 * read, and the stats.
 *
 * Every claim it prints is checked as it runs: if an acknowledged write is missing
 * after the crash, the demo says so and exits with status 1.
 */
import { fork } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openStore } from './index.js';

const WRITERS = 64;
/** The large store: keys, value size and a memory budget the data outgrows several times over. */
const LARGE_KEYS = 120_000;
const LARGE_VALUE_BYTES = 200;
const LARGE_BUDGET_BYTES = 8 * 1024 * 1024;
const PUTS_PER_WRITER = 200;
const CRASH_AFTER_MS = 400;

function accountKey(index: number): string {
  return `account-${String(index).padStart(4, '0')}`;
}

async function writePhase(directory: string): Promise<void> {
  const store = await openStore(directory);
  const started = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async (_, writer) => {
    for (let index = 0; index < PUTS_PER_WRITER; index++) {
      await store.put(`event-${writer}-${index}`, { writer, index, at: Date.now() });
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const stats = store.stats();
  console.log(`1. ${stats.commits} durable puts from ${WRITERS} concurrent writers in ${seconds.toFixed(2)} s ` +
    `(${Math.round(stats.commits / seconds)} commits/s, ${stats.fsyncs} fdatasyncs, ${stats.meanGroupSize.toFixed(1)} commits per fdatasync)`);
  await store.batch(Array.from({ length: 10 }, (_, index) => ({ type: 'put' as const, key: accountKey(index), value: 100 })));
  console.log(`2. opened 10 accounts with 100 each in one atomic batch (version ${store.version})`);
  await store.close();
}

/** Child process: moves money between accounts until killed, reporting each acknowledged transfer. */
async function crashChild(directory: string): Promise<void> {
  const store = await openStore(directory);
  process.send?.({ type: 'ready' });
  for (let transfer = 0; ; transfer++) {
    const from = transfer % 10;
    const to = (transfer * 7 + 3) % 10;
    if (from === to) continue;
    const balanceFrom = (await store.get(accountKey(from))) as number;
    const balanceTo = (await store.get(accountKey(to))) as number;
    const { version } = await store.batch([
      { type: 'put', key: accountKey(from), value: balanceFrom - 1 },
      { type: 'put', key: accountKey(to), value: balanceTo + 1 },
      { type: 'put', key: 'last-transfer', value: transfer },
    ]);
    process.send?.({ type: 'ack', transfer, version });
  }
}

function crashPhase(directory: string): Promise<{ lastAcknowledged: number; lastVersion: number }> {
  return new Promise((resolveCrash, rejectCrash) => {
    const child = fork(fileURLToPath(import.meta.url), ['--crash-child', directory]);
    let lastAcknowledged = -1;
    let lastVersion = 0;
    child.on('message', (message: { type: string; transfer?: number; version?: number }) => {
      if (message.type === 'ready') setTimeout(() => child.kill('SIGKILL'), CRASH_AFTER_MS);
      if (message.type === 'ack') {
        lastAcknowledged = message.transfer!;
        lastVersion = message.version!;
      }
    });
    child.on('error', rejectCrash);
    child.on('exit', (_code, signal) => {
      console.log(`3. a writer process made transfers for ${CRASH_AFTER_MS} ms and was killed (${signal}); ` +
        `its last acknowledged transfer was #${lastAcknowledged} at version ${lastVersion}`);
      resolveCrash({ lastAcknowledged, lastVersion });
    });
  });
}

async function recoveryPhase(directory: string, crash: { lastAcknowledged: number; lastVersion: number }): Promise<boolean> {
  const store = await openStore(directory);
  const recovery = store.stats().recovery;
  const lastTransfer = (await store.get('last-transfer')) as number | undefined;
  let total = 0;
  for await (const [, value] of store.scan({ gte: 'account-', lt: 'account.' })) total += value as number;
  const intact = store.version >= crash.lastVersion && (lastTransfer ?? -1) >= crash.lastAcknowledged && total === 1000;
  console.log(`4. reopened in ${recovery.durationMs.toFixed(1)} ms: replayed ${recovery.commits} commits from ${recovery.records} WAL records` +
    `${recovery.tornTail ? `, zeroed a torn tail of ${recovery.tornTail.zeroedBytes} bytes` : ''}; ` +
    `version ${store.version}, last transfer #${lastTransfer}, accounts total ${total} ` +
    `-> ${intact ? 'nothing acknowledged was lost, no transfer half-applied' : 'INCONSISTENT'}`);
  const history = await store.history(accountKey(0), { limit: 3 });
  const earlier = history[1];
  if (earlier !== undefined) {
    const then = await store.get(accountKey(0), { asOf: earlier.version });
    console.log(`5. ${accountKey(0)} now holds ${String(await store.get(accountKey(0)))}; as of version ${earlier.version} it held ${String(then)} ` +
      `(history: ${history.map((entry) => `v${entry.version}=${String(entry.value)}`).join(', ')})`);
  }
  await store.close();
  return intact;
}

/** Data beyond the memory budget: written, flushed to runs, reopened without replay, read back exactly. */
async function largePhase(directory: string): Promise<boolean> {
  rmSync(directory, { recursive: true, force: true });
  const options = { memoryBudgetBytes: LARGE_BUDGET_BYTES };
  let store = await openStore(directory, options);
  const valueOf = (index: number) => `${String(index).padStart(8, '0')}:${'x'.repeat(LARGE_VALUE_BYTES - 9)}`;
  const order = Array.from({ length: LARGE_KEYS }, (_, index) => (index * 7919) % LARGE_KEYS);
  const started = performance.now();
  for (let start = 0; start < LARGE_KEYS; start += WRITERS) {
    await Promise.all(order.slice(start, start + WRITERS).map((index) => store.put(`large-${String(index).padStart(7, '0')}`, valueOf(index))));
  }
  const seconds = (performance.now() - started) / 1000;
  const written = store.stats();
  const dataBytes = LARGE_KEYS * LARGE_VALUE_BYTES;
  console.log(`6. ${LARGE_KEYS} keys (${(dataBytes / 2 ** 20).toFixed(1)} MiB of values) in random order into a store with ` +
    `a memory budget of ${LARGE_BUDGET_BYTES / 2 ** 20} MiB in ${seconds.toFixed(1)} s: ${written.storage.flushes} memtables flushed to ` +
    `${written.storage.runs} run files (${(written.storage.runBytes / 2 ** 20).toFixed(1)} MiB on disk); memory held ` +
    `${(written.memoryBytes / 2 ** 20).toFixed(1)} MiB of the budget, ${written.storage.writeStalls} write stalls`);
  await store.close();
  store = await openStore(directory, options);
  const recovery = store.stats().recovery;
  let intact = true;
  for (let index = 0; index < LARGE_KEYS; index += 997) {
    if ((await store.get(`large-${String(index).padStart(7, '0')}`)) !== valueOf(index)) intact = false;
  }
  let count = 0;
  for await (const [key, value] of store.scan({ gte: 'large-', lt: 'large.' })) {
    if (value !== valueOf(Number((key as string).slice(6)))) intact = false;
    count++;
  }
  intact &&= count === LARGE_KEYS;
  console.log(`7. clean reopen in ${recovery.durationMs.toFixed(1)} ms replayed ${recovery.commits} commits (the close checkpointed); ` +
    `a scan read back all ${count} keys from the runs in key order -> ${intact ? 'every value exact' : 'MISMATCH'}`);
  await store.close();
  const repaired = await repairPhase(directory, options, valueOf);
  store = await openStore(directory, options);
  const { sinceOpen, lifetime, storage } = store.stats();
  console.log('9. stats after a reopen: since this open:', sinceOpen, '\n   lifetime (the store):', lifetime, '\n   storage:', storage);
  await store.close();
  return intact && repaired;
}

/** Self-repair: 8 bytes of a run file overwritten on disk; reads rebuild the block from parity. */
async function repairPhase(directory: string, options: { memoryBudgetBytes: number }, valueOf: (index: number) => string): Promise<boolean> {
  const runsDirectory = `${directory}/runs`;
  const victim = readdirSync(runsDirectory).sort()[0]!;
  const path = `${runsDirectory}/${victim}`;
  const bytes = readFileSync(path);
  bytes.fill(0xee, 1000, 1008); // inside the first data page
  writeFileSync(path, bytes);
  const store = await openStore(directory, options);
  let exact = 0;
  for await (const [key, value] of store.scan({ gte: 'large-', lt: 'large.' })) {
    if (value === valueOf(Number((key as string).slice(6)))) exact++;
  }
  const { repairedBlocks, unrecoverableBlocks } = store.stats().storage;
  await store.close();
  const ok = exact === LARGE_KEYS && repairedBlocks >= 1 && unrecoverableBlocks === 0;
  console.log(`8. overwrote 8 bytes of ${victim} on disk; a full scan read ${exact} exact values: ${repairedBlocks} block rebuilt from ` +
    `its stripe's XOR parity and rewritten in place, ${unrecoverableBlocks} unrecoverable -> ${ok ? 'repaired, no wrong data' : 'REPAIR FAILED'}`);
  return ok;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--crash-child') return crashChild(process.argv[3]!);
  const directory = resolve(process.argv[2] ?? 'demo-store');
  rmSync(directory, { recursive: true, force: true });
  console.log(`ladybug-store demo in ${directory}`);
  await writePhase(directory);
  const crash = await crashPhase(directory);
  const intact = await recoveryPhase(directory, crash);
  const largeIntact = await largePhase(`${directory}-large`);
  process.exitCode = intact && largeIntact ? 0 : 1;
}

await main();
