/**
 * Transfer transactions at low and high contention.
 *
 * `profile.concurrency` clients (64), each in a closed loop: pick two distinct
 * accounts uniformly from N (100,000: low contention; 10: high), an amount of
 * 1..100, and run one read-modify-write through the engine's nearest
 * equivalent of a transaction (EngineDefinition.transactionVariants, one row
 * per variant): read both balances, write from − amount and to + amount.
 * Accounts are preloaded before the run (not timed): 16-byte keys (data.ts),
 * 8-byte balances (float64, big-endian; integers, exact).
 *
 * Counted in the measured period: committed transactions (the unit), body
 * invocations (attempts, for retries per commit) and transactions that gave up
 * (ladybug: ConflictError after its retries). ladybug's `serial` variant
 * (store.transactionSync: the body runs inside the commit critical section) never
 * conflicts; its body runs again only after a read that memory could not answer,
 * and those re-runs count as retries here. Latency: one committed
 * transaction, call to resolve, retries and backoff included.
 *
 * Correctness, checked after the run (warm-up and measurement): every account
 * touched is read back and the total compared with what was loaded. Transfers
 * conserve the total, so a difference means lost updates; a row that fails the
 * check is flagged in the report. Conservation is necessary, not sufficient,
 * for isolation. The blind-writes variant (ladybug batch) reads nothing and
 * is not checked.
 */
import type { BenchKey, EngineDefinition, EngineHandle, ReadModifyWrite, TransactionVariant } from '../engines/engine.js';
import { keyAt } from '../data.js';
import type { Profile } from '../profile.js';
import { measureClosedLoop } from './closed-loop-measurement.js';
import { loadEntries } from './preload.js';
import type { CheckResult, Measurement, Workload, WorkloadContext } from './workload.js';

const INITIAL_BALANCE = 1_000_000;
const MAX_AMOUNT = 100;
const PRELOAD_BATCH_SIZE = 10_000;

export type Contention = 'low' | 'high';

export function transactionWorkload(contention: Contention, profile: Profile): Workload {
  const accounts = contention === 'low' ? profile.lowContentionAccounts : profile.highContentionAccounts;
  const clients = profile.concurrency;
  const accountsText = accounts.toLocaleString('en-US');
  return {
    id: `txn-${contention}-contention`,
    title: `transfer transactions, ${clients} concurrent clients, 2 of ${accountsText} accounts (${contention} contention)`,
    unit: 'transactions',
    measures:
      `Committed transactions per second with ${clients} clients, each in a closed loop running one transfer: pick 2 distinct accounts uniformly from ${accountsText}, read both balances, write both (from − x, to + x, x in 1..${MAX_AMOUNT}), durably. ` +
      `Accounts are preloaded (16-byte keys, 8-byte balances) before the run, not timed. ` +
      `retries/commit = (body invocations − commits) ÷ commits, counting the attempts of transactions that gave up; "gave up" = transactions rejected after their last retry (ladybug: LADYBUG_CONFLICT), not counted as transactions. ` +
      `Latency: one committed transaction, call to resolve, retries and backoff included. ` +
      `Check: after the run every account touched is read back; transfers conserve the total, so a changed total means lost updates and the figure is flagged.`,
    writes: true,
    columns: [
      { key: 'retriesPerCommit', header: 'retries/commit', shortLabel: 'retries/commit', format: 'decimal' },
      { key: 'gaveUp', header: 'gave up', shortLabel: 'gave up', format: 'count' },
    ],
    appliesTo: (definition: EngineDefinition) => definition.supportsReads && (definition.transactionVariants?.length ?? 0) > 0,
    variants: (definition: EngineDefinition) => (definition.transactionVariants ?? []).map((variant) => variant.id),
    describeEngines: (definitions) => definitions.flatMap(describeVariants),
    run: (context) => runTransfers(context, accounts),
  };
}

function describeVariants(definition: EngineDefinition): string[] {
  return (definition.transactionVariants ?? []).map(
    (variant) => `**${definition.id} [${variant.id}]** — ${variant.description}. ${isolationLabel(variant)}: ${variant.concurrency}.`,
  );
}

function isolationLabel(variant: TransactionVariant): string {
  switch (variant.isolation) {
    case 'isolated':
      return 'Isolated';
    case 'not-isolated':
      return '**Not isolated**';
    case 'blind-writes':
      return '**Blind writes, not a transaction**';
  }
}

function variantOf(context: WorkloadContext): TransactionVariant {
  const variant = context.definition.transactionVariants?.find((candidate) => candidate.id === context.variant);
  if (variant === undefined) throw new Error(`${context.definition.id} has no transaction variant ${String(context.variant)}`);
  return variant;
}

async function runTransfers(context: WorkloadContext, accounts: number): Promise<Measurement> {
  const variant = variantOf(context);
  const engine = context.engine;
  const transact = engine.transact;
  if (transact === undefined) throw new Error(`${context.definition.id} has no transact`);
  const keys = accountKeys(accounts, context.profile);
  const initial = encodeBalance(INITIAL_BALANCE);
  await loadEntries(engine, accounts, PRELOAD_BATCH_SIZE, (index) => ({ key: keys[index] as Buffer, value: initial }));
  const blind = variant.isolation === 'blind-writes';
  const touched = new Uint8Array(accounts);
  const counts = { attempts: 0, committed: 0, gaveUp: 0 };
  context.beginMeasurement();
  const measurement = await measureClosedLoop(context.profile, {
    workerCount: context.profile.concurrency,
    onMeasurementStart: () => {
      counts.attempts = 0;
      counts.committed = 0;
      counts.gaveUp = 0;
    },
    operation: async () => {
      const [from, to] = pickPair(accounts);
      touched[from] = 1;
      touched[to] = 1;
      const amount = 1 + Math.floor(Math.random() * MAX_AMOUNT);
      const result = await transact(variant.id, [keys[from] as Buffer, keys[to] as Buffer], transfer(amount, blind));
      counts.attempts += result.attempts;
      if (!result.committed) {
        counts.gaveUp += 1;
        return 0;
      }
      counts.committed += 1;
      return 1;
    },
    latencyPerRecord: true,
    sampleMeaning: 'one committed transaction, call to resolve (retries and backoff included)',
  });
  const check = blind ? notChecked() : await checkConservation(engine, keys, touched, variant);
  return {
    ...measurement,
    extra: {
      ...measurement.extra,
      retriesPerCommit: counts.committed === 0 ? Number.NaN : (counts.attempts - counts.committed) / counts.committed,
      gaveUp: counts.gaveUp,
      attempts: counts.attempts,
      accountsTouched: countTouched(touched),
    },
    check,
  };
}

function accountKeys(accounts: number, profile: Profile): Buffer[] {
  return Array.from({ length: accounts }, (_unused, index) => keyAt(index, profile.keyOrder));
}

function pickPair(accounts: number): [number, number] {
  const from = Math.floor(Math.random() * accounts);
  let to = Math.floor(Math.random() * (accounts - 1));
  if (to >= from) to += 1;
  return [from, to];
}

function transfer(amount: number, blind: boolean): ReadModifyWrite {
  return (values) => {
    if (blind) return [encodeBalance(INITIAL_BALANCE - amount), encodeBalance(INITIAL_BALANCE + amount)];
    return [encodeBalance(decodeBalance(values[0]) - amount), encodeBalance(decodeBalance(values[1]) + amount)];
  };
}

function encodeBalance(balance: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleBE(balance, 0);
  return bytes;
}

function decodeBalance(value: unknown): number {
  if (!(value instanceof Uint8Array) || value.length !== 8) {
    throw new Error(`account balance missing or malformed: ${value instanceof Uint8Array ? `${value.length} bytes` : typeof value}`);
  }
  return new DataView(value.buffer, value.byteOffset, 8).getFloat64(0);
}

function countTouched(touched: Uint8Array): number {
  let count = 0;
  for (const flag of touched) count += flag;
  return count;
}

function notChecked(): CheckResult {
  return { passed: undefined, summary: 'not checked: blind writes (nothing read)' };
}

/** Reads back every touched account: their total must still be touched × the initial balance. */
async function checkConservation(
  engine: EngineHandle,
  keys: readonly BenchKey[],
  touched: Uint8Array,
  variant: TransactionVariant,
): Promise<CheckResult> {
  const get = engine.get;
  if (get === undefined) return { passed: undefined, summary: 'not checked: engine has no get' };
  let total = 0;
  let count = 0;
  for (let index = 0; index < touched.length; index += 1) {
    if (touched[index] === 0) continue;
    total += decodeBalance(await get(keys[index] as BenchKey));
    count += 1;
  }
  const drift = total - count * INITIAL_BALANCE;
  const accounts = `${count.toLocaleString('en-US')} touched accounts`;
  if (drift === 0) {
    const caveat = variant.isolation === 'not-isolated' ? '; no lost update showed in this run, but the engine does not isolate' : '';
    return { passed: true, summary: `total conserved (${accounts})${caveat}` };
  }
  const signed = `${drift > 0 ? '+' : ''}${drift.toLocaleString('en-US')}`;
  const why = variant.isolation === 'isolated' ? 'claims isolation' : 'not isolated';
  return { passed: false, summary: `LOST UPDATES: total off by ${signed} over ${accounts} (${why})` };
}
