// A child process for test/churn-thread-lifecycle.test.ts (run from the built dist/):
// store cycles that end a store's worker threads (flush thread, merge threads, the cold
// tier's compression pool) at a seeded random moment, to catch a Node abort (SIGABRT, a
// fatal V8 error) or a hang at any moment of a thread's life. An abort takes the whole
// process, so this runs in a child of its own.
//
// Each cycle opens a store in a fresh temporary directory (a copy of a template store
// holding a tier-1 run and tier-0 runs) with a 256 KiB memory budget (memtables of
// ~21 KiB: a flush every few batches), every flush through the flush thread
// (flushSettings.threadMinMemtableBytes 0), and compact() in a loop beside the writes, so
// merges run in merge threads and the first one writes a cold (compressed) run. The store
// is ended 0..spreadMs after its open (threads booting, flushing, merging, idle) by:
//   close       close() while the writes and compactions go on
//   compact     close() right after a compact() was called (in flight)
//   idle        thread idle ends (idleMs 0..3 ms for flush, merge and pool threads), then close()
//   abandon     store[abandonStore]() (a dead process), the directory then reopened and closed
//   pool        as `close`, merging on the main thread: cold blocks compressed by the piscina pool
//   worker      the store opened inside a worker thread of this child, which terminate()s it
//   worker-merge  as `worker`, terminated 0..spreadMs after the worker's store has a merge thread
//   worker-cold   as `worker`, terminated 0..spreadMs after it also has a cold run (the merge
//                 thread then mostly compresses: later compactions rewrite the cold run)
//               (these two: measurements only, not in mix)
//   pair        two stores at once (their merge threads contend for the process's merge
//               slots: an idle thread is ended for the other store's waiting merge), each
//               ended at its own moment, one by close(), the other by abandonStore
//   mix         close, compact, idle, abandon, pool, worker and pair, in turn
// After each cycle no flush, merge or compression thread may be left (leaked threads).
// A cycle that has not ended 30 s after it began is a hang: reported, exit 3.
// Unhandled rejections are counted and fail the run (exit 1).
//
// Usage: node churn-child.mjs <mode> <cycles> <seed> [spreadMs] [distRoot]
// Prints "survived <cycles>" at the end, and one summary line (JSON) on stderr.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { xorshift32 } from './xorshift-child.mjs';

const [mode = 'mix', cyclesText = '40', seedText = '1', spreadText = '60', distText] = process.argv.slice(2);
const dist = distText === undefined ? new URL('../../dist/src/', import.meta.url) : new URL(`file://${distText.replace(/\/?$/, '/')}`);
const load = (path) => import(new URL(path, dist).href);
const { openStore } = await load('index.js');
const { abandonStore } = await load('store/store.js');
const { flushThreadSettings, flushThreadsRunning } = await load('engine/flush-thread.js');
const { flushSettings } = await load('engine/flush-settings.js');
const { mergeThreadSettings, mergeThreadsRunning } = await load('compaction/merge-thread.js');
const { compactionSettings } = await load('compaction/compaction-policy.js');
const { compressionPoolSettings, compressionPoolsSettled, compressionThreadsRunning } = await load('run/compression-pool.js');

const MODES = ['close', 'compact', 'idle', 'abandon', 'pool', 'worker', 'pair'];
const cycles = Number(cyclesText);
const spreadMs = Number(spreadText);
const HANG_MS = 30_000;

const next = xorshift32(seedText);

const summary = { mode, seed: Number(seedText), cycles: 0, byMode: {}, unhandled: 0, leaked: 0, liveAtEnd: { flush: 0, merge: 0, pool: 0 }, coldRuns: 0, errors: [] };
process.on('unhandledRejection', (reason) => {
  summary.unhandled++;
  console.error(`unhandled rejection: ${reason?.stack ?? reason}`);
});

const IDLE_DEFAULTS = { flush: flushThreadSettings.idleMs, merge: mergeThreadSettings.idleMs, pool: compressionPoolSettings.idleMs };
flushSettings.threadMinMemtableBytes = 0; // every flush through the flush thread

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const KEYS = 4000;
const key = (index) => `key-${String(index).padStart(6, '0')}`;
const value = (index, round) => `value ${index} round ${round} `.repeat(3);
const OPTIONS = { memoryBudgetBytes: 256 * 1024 };

/**
 * The store every cycle starts from (copied): a tier-1 run and tier-0 runs over the same
 * keys, so a cycle's first compact() writes a cold (compressed) run within ~100 ms of its
 * open, and the background policy may start a merge at open. (From an empty store the
 * first cold run came ~1 s in: too late for most ends.)
 */
const template = mkdtempSync(join(tmpdir(), 'churn-template-'));
{
  const store = await openStore(template, OPTIONS);
  const fill = async (round, batches) => {
    for (let b = 0; b < batches; b++) {
      await store.batch(Array.from({ length: 40 }, (_, i) => {
        const index = (b * 40 + i) * 7 % KEYS;
        return { type: 'put', key: key(index), value: value(index, round) };
      }));
    }
    await store.checkpoint();
  };
  for (let round = 0; round < 4; round++) await fill(round, 25);
  await store.compact();
  for (let round = 4; round < 6; round++) await fill(round, 25);
  await store.close();
}
process.on('exit', () => rmSync(template, { recursive: true, force: true }));

function freshDirectory() {
  const directory = mkdtempSync(join(tmpdir(), 'churn-'));
  cpSync(template, directory, { recursive: true });
  return directory;
}

/** Writes batches and runs compact() in a loop until `stop.now`; both swallow the store's closing errors. */
function workload(store, stop, seedBase, abandoned) {
  let state = seedBase >>> 0 || 1;
  const random = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 32;
  };
  // A call racing abandonStore fails however the killed file system makes it fail (a dead process sees nothing).
  const expected = (error) => abandoned.now || ['LADYBUG_STORE_CLOSED', 'LADYBUG_STORE_FAILED', 'LADYBUG_COMMIT_OUTCOME_UNKNOWN'].includes(error?.code);
  const writes = (async () => {
    for (let round = 0; !stop.now; round++) {
      const batch = Array.from({ length: 40 }, () => {
        const index = Math.floor(random() * KEYS);
        return { type: 'put', key: key(index), value: value(index, round) };
      });
      try {
        await store.batch(batch);
      } catch (error) {
        if (!expected(error)) throw error;
        return;
      }
    }
  })();
  const compactions = (async () => {
    while (!stop.now) {
      try {
        await store.compact();
      } catch (error) {
        if (!expected(error)) throw error;
        return;
      }
      await sleep(1);
    }
  })();
  return Promise.all([writes, compactions]);
}

function noteError(cycle, where, error) {
  const text = `cycle ${cycle} ${where}: ${error?.stack ?? error}`;
  if (summary.errors.length < 10) summary.errors.push(text.slice(0, 500));
  console.error(text);
  process.exitCode = 1;
}

/**
 * Counts a leak unless no flush, merge or compression thread is left: at once after a
 * close() (it returns once its threads have exited: src/util/idle-end.ts), within
 * `graceMs` after an abandon (it terminates them without waiting). The grace is well
 * under the threads' 10 s idle end, so a thread left to end idle is still caught.
 */
async function expectNoThreads(cycle, label, graceMs = 0) {
  await compressionPoolsSettled();
  for (let waited = 0; ; waited += 10) {
    if (flushThreadsRunning() + mergeThreadsRunning() + compressionThreadsRunning() === 0) return;
    if (waited >= graceMs) break;
    await sleep(10);
  }
  summary.leaked++;
  noteError(cycle, label, new Error(`threads left: flush ${flushThreadsRunning()}, merge ${mergeThreadsRunning()}, pool ${compressionThreadsRunning()}`));
}

const ABANDON_GRACE_MS = 2_000;

async function storeCycle(cycle, how) {
  const directory = freshDirectory();
  const stop = { now: false };
  const idle = how === 'idle';
  flushThreadSettings.idleMs = idle ? Math.floor(next() * 4) : IDLE_DEFAULTS.flush;
  mergeThreadSettings.idleMs = idle ? Math.floor(next() * 4) : IDLE_DEFAULTS.merge;
  compressionPoolSettings.idleMs = idle ? Math.floor(next() * 4) : IDLE_DEFAULTS.pool;
  compactionSettings.mergeThread = how === 'pool' ? 'main' : 'worker';
  const delay = next() * spreadMs;
  try {
    const store = await openStore(directory, OPTIONS);
    const abandoned = { now: false };
    const working = workload(store, stop, Math.floor(next() * 2 ** 32), abandoned);
    working.catch(() => undefined);
    await sleep(delay);
    summary.liveAtEnd.flush += flushThreadsRunning() > 0 ? 1 : 0;
    summary.liveAtEnd.merge += mergeThreadsRunning() > 0 ? 1 : 0;
    summary.liveAtEnd.pool += compressionThreadsRunning() > 0 ? 1 : 0;
    summary.coldRuns += store.stats().storage.tiers.coldRuns > 0 ? 1 : 0;
    if (how === 'abandon') {
      abandoned.now = true;
      store[abandonStore]();
      stop.now = true;
      await working.catch((error) => noteError(cycle, 'workload', error));
      await expectNoThreads(cycle, 'after abandon', ABANDON_GRACE_MS);
      const reopened = await openStore(directory, OPTIONS);
      await reopened.close();
    } else {
      if (how === 'compact') void store.compact().catch(() => undefined); // in flight as close() begins
      if (idle) await sleep(Math.floor(next() * 8)); // idle ends run meanwhile (writes pause between batches)
      const closing = store.close();
      stop.now = true;
      await closing;
      await working.catch((error) => noteError(cycle, 'workload', error));
    }
    await expectNoThreads(cycle, `after ${how}`);
  } finally {
    stop.now = true;
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Two stores at once, each ended at its own random moment (close, and abandon then reopen). */
async function pairCycle(cycle) {
  const directories = [freshDirectory(), freshDirectory()];
  const stops = [{ now: false }, { now: false }];
  const abandoned = [{ now: false }, { now: false }];
  flushThreadSettings.idleMs = IDLE_DEFAULTS.flush;
  mergeThreadSettings.idleMs = IDLE_DEFAULTS.merge;
  compressionPoolSettings.idleMs = IDLE_DEFAULTS.pool;
  compactionSettings.mergeThread = 'worker';
  const delays = [next() * spreadMs, next() * spreadMs];
  const abandonFirst = next() < 0.5;
  try {
    const stores = await Promise.all(directories.map((directory) => openStore(directory, OPTIONS)));
    const ends = stores.map(async (store, which) => {
      const working = workload(store, stops[which], Math.floor(next() * 2 ** 32), abandoned[which]);
      working.catch(() => undefined);
      await sleep(delays[which]);
      summary.liveAtEnd.flush += flushThreadsRunning() > 0 ? 1 : 0;
      summary.liveAtEnd.merge += mergeThreadsRunning() > 0 ? 1 : 0;
      summary.coldRuns += store.stats().storage.tiers.coldRuns > 0 ? 1 : 0;
      if ((which === 0) === abandonFirst) {
        abandoned[which].now = true;
        store[abandonStore]();
        stops[which].now = true;
        await working.catch((error) => noteError(cycle, 'workload', error));
        return 'abandoned';
      }
      const closing = store.close();
      stops[which].now = true;
      await closing;
      await working.catch((error) => noteError(cycle, 'workload', error));
      return 'closed';
    });
    const how = await Promise.all(ends);
    await expectNoThreads(cycle, 'after pair', ABANDON_GRACE_MS);
    const abandonedIndex = how.indexOf('abandoned');
    const reopened = await openStore(directories[abandonedIndex], OPTIONS);
    await reopened.close();
    await expectNoThreads(cycle, 'after pair reopen');
  } finally {
    for (const stop of stops) stop.now = true;
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  }
}

// The store inside a worker thread of this child: the worker writes and compacts until terminated.
const workerSource = `
import { parentPort, workerData } from 'node:worker_threads';
const load = (path) => import(new URL(path, workerData.dist).href);
const { openStore } = await load('index.js');
const { flushSettings } = await load('engine/flush-settings.js');
const { flushThreadsRunning } = await load('engine/flush-thread.js');
const { mergeThreadsRunning } = await load('compaction/merge-thread.js');
flushSettings.threadMinMemtableBytes = 0;
const store = await openStore(workerData.directory, { memoryBudgetBytes: 256 * 1024 });
let round = 0;
parentPort.postMessage('opened');
const compactions = (async () => { for (;;) { await store.compact().catch(() => undefined); await new Promise((r) => setTimeout(r, 1)); } })();
for (;;) {
  const batch = [];
  for (let i = 0; i < 40; i++) {
    const index = (round * 97 + i * 131) % ${KEYS};
    batch.push({ type: 'put', key: 'key-' + String(index).padStart(6, '0'), value: ('value ' + index + ' round ' + round + ' ').repeat(3) });
  }
  await store.batch(batch);
  round++;
  // Which threads the store has as it goes: the parent counts those live at the terminate.
  parentPort.postMessage({ flush: flushThreadsRunning(), merge: mergeThreadsRunning(), cold: store.stats().storage.tiers.coldRuns });
  // Reads of older (cold) keys now and then.
  if (round % 5 === 0) await store.get('key-' + String((round * 13) % ${KEYS}).padStart(6, '0'));
}
`;

async function workerCycle(cycle, during) {
  const directory = freshDirectory();
  try {
    const worker = new Worker(`import(${JSON.stringify('data:text/javascript,' + encodeURIComponent(workerSource))})`, {
      eval: true, workerData: { dist: dist.href, directory },
    });
    let failed;
    worker.on('error', (error) => (failed = error));
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const opened = new Promise((resolve) => worker.once('message', resolve));
    let status = { flush: 0, merge: 0, cold: 0 };
    worker.on('message', (message) => { if (typeof message === 'object') status = message; });
    if ((await Promise.race([opened, exited.then(() => 'exited')])) === 'exited') throw failed ?? new Error('the worker exited before its store opened');
    if (during === 'merge') {
      // Terminated while the store's merge thread lives (booting, or merging).
      for (let waited = 0; status.merge === 0 && waited < 5_000; waited += 2) await sleep(2);
    } else if (during === 'cold') {
      // Terminated once the store has a cold run and a merge thread: later compactions rewrite
      // the cold run, so the thread is mostly compressing blocks (zlib calls) by then.
      for (let waited = 0; (status.merge === 0 || status.cold === 0) && waited < 10_000; waited += 2) await sleep(2);
    }
    await sleep(next() * spreadMs);
    summary.liveAtEnd.flush += status.flush > 0 ? 1 : 0;
    summary.liveAtEnd.merge += status.merge > 0 ? 1 : 0;
    summary.coldRuns += status.cold > 0 ? 1 : 0;
    await worker.terminate();
    if (failed !== undefined) throw failed;
    // The directory is a dead thread's: the next open takes the lock over.
    const reopened = await openStore(directory, OPTIONS);
    await reopened.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

for (let cycle = 0; cycle < cycles; cycle++) {
  const how = mode === 'mix' ? MODES[cycle % MODES.length] : mode;
  const watchdog = setTimeout(() => {
    console.error(`HANG: cycle ${cycle} (${how}) did not end within ${HANG_MS} ms; threads: flush ${flushThreadsRunning()}, merge ${mergeThreadsRunning()}, pool ${compressionThreadsRunning()}`);
    console.error(JSON.stringify(summary));
    process.exit(3);
  }, HANG_MS);
  try {
    if (how.startsWith('worker')) await workerCycle(cycle, how.slice('worker-'.length));
    else if (how === 'pair') await pairCycle(cycle);
    else await storeCycle(cycle, how);
  } catch (error) {
    noteError(cycle, how, error);
  } finally {
    clearTimeout(watchdog);
  }
  summary.cycles++;
  summary.byMode[how] = (summary.byMode[how] ?? 0) + 1;
  if (summary.cycles % 50 === 0) console.error(`progress ${JSON.stringify(summary)}`);
}
console.error(JSON.stringify(summary));
if (summary.unhandled > 0) process.exitCode = 1;
if (process.exitCode === undefined || process.exitCode === 0) console.log(`survived ${cycles}`);
