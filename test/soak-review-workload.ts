/**
 * One seeded workload that drives the whole storage stack at once on a FaultFileSystem:
 * concurrent puts, deletes and batches under the smallest memory budget (memtables flush
 * to runs), serializable transactions and transactionSync transfers, a lease renewed every
 * round with fenced writes, a watcher consuming the change feed, a snapshot held across
 * rounds, a long scan stepped once per round, checkpoints, size-tiered and retention-driven
 * compactions (tier 2 and deeper is the compressed cold tier), a run page damaged and
 * scrubbed back from parity, and backups. Every commit is recorded in the model before it
 * is submitted and settled after (soak-review-model.ts); a crash (crashAfterOperations)
 * makes the rest of the run fail, which the workload records and otherwise ignores.
 */
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store, type StoreSnapshot } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { mulberry32 as createSeededRandom } from './support/seeded-random.js';
import { type CommitRecord, type Delivered, SoakModel, type Written } from './soak-review-model.js';

export const STORE = '/db';
export const STORE_OPTIONS = { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, segmentSizeBytes: 64 * 1024, walCheckpointBytes: 64 * 1024 } as const;
export const WRITER_KEYS = Array.from({ length: 3 }, (_, writer) => Array.from({ length: 8 }, (_, index) => `w${writer}/k${index}`));
export const TX_KEYS = ['tx/counter', 'tx/a', 'tx/b'];
export const ACCOUNTS = ['acct/0', 'acct/1', 'acct/2', 'acct/3'];
export const FENCED_KEY = 'fenced/report';
export const ALL_KEYS = [...WRITER_KEYS.flat(), ...TX_KEYS, ...ACCOUNTS, FENCED_KEY].sort();
export const LEASE_NAME = 'soak/job';
/** Written bound to the lease (outside ALL_KEYS: its own check). */
export const BOUND_KEY = 'bound/presence';

export interface SoakRun {
  fileSystem: FaultFileSystem;
  model: SoakModel;
  /** Unexpected failures before any crash (a crash makes every later call fail). */
  errors: string[];
  store: Store | undefined;
  coldBytes: number;
  log: string[];
  /** File-system operation indices each maintenance call spanned (other work interleaves). */
  windows: Array<{ name: string; begin: number; end: number }>;
}

export interface SoakPlan { seed: number; rounds: number; crashAfter?: number }

type Random = () => number;

function payload(random: Random, id: string): Written {
  const size = random() < 0.85 ? Math.floor(random() * 300) : 1000 + Math.floor(random() * 3000);
  return { id, pad: 'p'.repeat(size) };
}

/** The workload; resolves when every task has ended (after a crash: when they all noticed). */
export async function runSoak(plan: SoakPlan): Promise<SoakRun> {
  const random = createSeededRandom(plan.seed);
  const fileSystem = new FaultFileSystem(plan.seed);
  const model = new SoakModel();
  const run: SoakRun = { fileSystem, model, errors: [], store: undefined, coldBytes: 0, log: [], windows: [] };
  const store = await openStore(STORE, { fileSystem, ...STORE_OPTIONS });
  run.store = store;
  if (plan.crashAfter !== undefined) fileSystem.crashAfterOperations(plan.crashAfter);
  const failed = () => fileSystem.operationCount > (plan.crashAfter ?? Infinity) || store.stats().failed;
  const note = (what: string, error: unknown) => {
    if (!failed()) run.errors.push(`${what}: ${(error as Error)?.stack ?? String(error)}`);
  };
  const commit = async (record: CommitRecord, submit: () => Promise<{ version: number }>) => {
    model.submit(record, store.version);
    try {
      model.acknowledge(record, (await submit()).version);
    } catch (error) {
      model.reject(record, error);
      throw error;
    }
  };

  // The watcher: from version 0, everything but reserved keys, consumed as it comes.
  const watcher = (async () => {
    try {
      for await (const change of store.watch({ sinceVersion: 0 })) {
        const delivered: Delivered = { version: change.version, key: String(change.key), deleted: change.deleted, ...(change.deleted ? {} : { value: change.value }) };
        model.delivered.push(delivered);
      }
    } catch (error) {
      model.watchEnded = String((error as { code?: string }).code ?? error);
    }
  })();

  let lease: { name: string; owner: string; token: number } | undefined;
  let snapshot: { handle: StoreSnapshot; version: number } | undefined;
  let scan: { iterator: AsyncIterator<[string | Uint8Array, unknown]>; version: number; entries: Array<[string, unknown]> } | undefined;
  let sequence = 0;
  const nextId = (kind: string) => `${kind}${sequence++}`;

  const writerTask = async (writer: number, random: Random) => {
    for (let step = 0; step < 3; step++) {
      const keys = WRITER_KEYS[writer]!;
      const roll = random();
      const id = nextId(`w${writer}.`);
      if (roll < 0.55) {
        const key = keys[Math.floor(random() * keys.length)]!;
        const value = payload(random, id);
        await commit({ id, kind: 'put', writes: new Map([[key, value]]) }, () => store.put(key, value));
      } else if (roll < 0.7) {
        const key = keys[Math.floor(random() * keys.length)]!;
        await commit({ id, kind: 'del', writes: new Map([[key, undefined]]) }, () => store.delete(key));
      } else {
        const chosen = keys.filter(() => random() < 0.4);
        if (chosen.length === 0) chosen.push(keys[0]!);
        const writes = new Map<string, Written | undefined>(chosen.map((key) => [key, random() < 0.2 ? undefined : payload(random, id)]));
        await commit({ id, kind: 'batch', writes }, () => store.batch([...writes].map(([key, value]) => (value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value }))));
      }
    }
  };

  const transactionTask = async (isolation: 'serializable' | 'snapshot') => {
    const id = nextId('tx');
    const record: CommitRecord = { id, kind: 'tx', writes: new Map() };
    model.submit(record, store.version);
    try {
      await store.transaction(async (tx) => {
        record.writes = new Map();
        const counter = (await tx.get('tx/counter')) as { n?: number } | undefined;
        const n = (counter?.n ?? 0) + 1;
        const write = (key: string, value: Written) => {
          tx.put(key, value);
          record.writes.set(key, value);
        };
        write('tx/counter', { id, n });
        write(n % 2 === 0 ? 'tx/a' : 'tx/b', { id, n });
      }, { isolation, retries: 50 });
      model.acknowledge(record, undefined);
    } catch (error) {
      model.reject(record, error);
      throw error;
    }
  };

  const transferTask = async (random: Random) => {
    const id = nextId('sync');
    const record: CommitRecord = { id, kind: 'sync', writes: new Map() };
    model.submit(record, store.version);
    const from = ACCOUNTS[Math.floor(random() * ACCOUNTS.length)]!;
    const to = ACCOUNTS[(ACCOUNTS.indexOf(from) + 1) % ACCOUNTS.length]!;
    try {
      await store.transactionSync((tx) => {
        record.writes = new Map();
        const balance = (key: string) => ((tx.get(key) as { balance?: number } | undefined)?.balance ?? 100);
        const amount = Math.min(balance(from), 7);
        const fromValue = { id, balance: balance(from) - amount };
        const toValue = { id, balance: balance(to) + amount };
        tx.put(from, fromValue);
        tx.put(to, toValue);
        record.writes.set(from, fromValue).set(to, toValue);
      });
      model.acknowledge(record, undefined);
    } catch (error) {
      model.reject(record, error);
      throw error;
    }
  };

  const leaseTask = async () => {
    if (lease === undefined) {
      const acquired = await store.leases.acquire(LEASE_NAME, { owner: 'soak', ttlMs: 600_000 });
      lease = acquired;
      model.leaseTokens.push(acquired.token);
    } else {
      await store.leases.renew(LEASE_NAME, { owner: 'soak', token: lease.token });
    }
    const id = nextId('fence');
    const value = { id, token: lease.token };
    await commit({ id, kind: 'put', writes: new Map([[FENCED_KEY, value]]) }, () => store.put(FENCED_KEY, value, { fence: lease! }));
    // A key bound to the lease: the restart rule deletes it at the next open.
    await store.put(BOUND_KEY, { id: nextId('bound') }, { lease: lease! });
    model.boundWritten = true;
  };

  const timed = async <T>(name: string, action: () => Promise<T>): Promise<T> => {
    const begin = fileSystem.operationCount;
    try {
      return await action();
    } finally {
      run.windows.push({ name, begin, end: fileSystem.operationCount });
    }
  };
  const maintenance = async (round: number) => {
    if (round % 2 === 1) await timed('checkpoint', () => store.checkpoint());
    if (round % 4 === 3) await timed('compact', () => store.compact());
    if (round % 5 === 4) await timed('retention compact', async () => {
      // Retention-driven: the floor stays at or below what the watcher has seen, so its feed can resume.
      const last = model.delivered.at(-1)?.version ?? 0;
      const result = await store.compact({ retainFrom: Math.max(0, Math.min(last, store.version) - 5) });
      model.floorRequested = Math.max(model.floorRequested, result.retentionFloor ?? 0);
    });
    if (round % 3 === 2) {
      const runs = (await fileSystem.readdir(`${STORE}/runs`)).filter((name) => name.endsWith('.run')).sort();
      const target = runs[Math.floor(random() * runs.length)];
      if (target !== undefined) {
        fileSystem.flipBit(`${STORE}/runs/${target}`, 100 + Math.floor(random() * 3000), Math.floor(random() * 8));
        run.log.push(`round ${round}: damaged ${target}`);
        const report = await timed('scrub', () => store.scrub());
        if (report.unrecoverable.length > 0 && !failed()) run.errors.push(`scrub left ${JSON.stringify(report.unrecoverable)}`);
      }
    }
    if (round % 6 === 5) {
      const target = `/backup${round}`;
      model.backupsStarted.push(target);
      const { version } = await timed('backup', () => store.backup(target));
      model.backups.set(target, version);
    }
  };

  for (let round = 0; round < plan.rounds && !failed(); round++) {
    const seeds = Array.from({ length: 6 }, () => createSeededRandom(Math.floor(random() * 2 ** 31)));
    const tasks: Array<[string, Promise<unknown>]> = [
      ...[0, 1, 2].map((writer): [string, Promise<unknown>] => [`writer ${writer}`, writerTask(writer, seeds[writer]!)]),
      ['transaction', transactionTask('serializable')],
      ['snapshot transaction', transactionTask('snapshot')],
      ['transfer', transferTask(seeds[3]!)],
      ['lease', leaseTask()],
      ['maintenance', maintenance(round)],
    ];
    if (round === 1) tasks.push(['snapshot', store.snapshot().then((handle) => { snapshot = { handle, version: handle.version }; model.snapshots.push(handle.version); })]);
    if (round === 2) {
      const version = store.version;
      scan = { iterator: store.scan({ gte: '\u0001' })[Symbol.asyncIterator](), version, entries: [] };
    }
    for (let steps = 0; steps < 3 && scan !== undefined && model.scan === undefined; steps++) {
      const step = await scan.iterator.next().catch((error: unknown) => { note('scan', error); return undefined; });
      if (step === undefined) scan = undefined; // failed part-way: nothing to compare
      else if (step.done === true) model.scan = { version: scan.version, entries: scan.entries };
      else scan.entries.push([String(step.value[0]), step.value[1]]);
    }
    if (round === Math.floor(plan.rounds / 2) && snapshot !== undefined) {
      model.snapshotReads.set(snapshot.version, await readSnapshot(snapshot.handle).catch((error: unknown) => { note('snapshot read', error); return undefined; }));
      await snapshot.handle.release();
      snapshot = undefined;
    }
    const settled = await Promise.allSettled(tasks.map(([, task]) => task));
    settled.forEach((outcome, index) => { if (outcome.status === 'rejected') note(tasks[index]![0], outcome.reason); });
  }
  run.coldBytes = store.stats().storage.tiers.coldBytes;
  if (!failed() && snapshot !== undefined) {
    const held = snapshot;
    model.snapshotReads.set(held.version, await readSnapshot(held.handle).catch((error: unknown) => { note('snapshot read', error); return undefined; }));
  }
  await store.close().catch((error: unknown) => note('close', error));
  await watcher;
  return run;
}

async function readSnapshot(snapshot: StoreSnapshot): Promise<Map<string, unknown>> {
  const values = new Map<string, unknown>();
  for (const key of ALL_KEYS) values.set(key, await snapshot.get(key));
  return values;
}
