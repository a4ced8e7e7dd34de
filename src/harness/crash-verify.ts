/**
 * Verifies a store reopened after a crash against the crash model, then advances
 * the model to what was recovered.
 *
 *   readRecoveredState  each key's history entries newer than the model's newest,
 *                       and whether that newest entry is still there
 *   checkCycleCommits   every commit of the cycle, acknowledged or in flight:
 *                         acknowledged, all writes at its version -> ok
 *                         acknowledged, none of them              -> lost
 *                         in flight, all at one version or none   -> ok
 *                         any commit, some writes but not all     -> torn
 *                       and every new history entry must belong to an announced
 *                       commit, at that commit's version, with its exact value
 *   checkNewest         each key's newest entry is its last applied commit
 *   RECOVERY_CHECKS     whole-store checks: the full scan equals the model, stats
 *                       agree with it, the bank's invariants hold
 *   checkVerifyClean    after the store is closed: `verifyStore` (what `ladybug
 *                       verify` runs) finds no corruption, no torn tail and no
 *                       unfinished segment, since the recovery and the clean close
 *                       before it must have left none. As verifyStore grows block
 *                       and parity checks, the harness checks them too.
 *
 * Problems are counted by kind: 'lost' (an acknowledged commit, or data a previous
 * recovery had, is missing), 'torn' (a commit partly applied), 'inconsistent'
 * (anything else that is wrong: a value nobody wrote, a wrong version, a scan or
 * stats disagreement, a broken bank invariant).
 */
import { isDeepStrictEqual } from 'node:util';
import type { HistoryEntry, Store } from '../store/store.js';
import { verifyStore } from '../store/verify-store.js';
import { ACCOUNT_COUNT, accountKey, BANK_TOTAL, valueOf, type WriteDescription, writeIdOf } from './crash-protocol.js';
import type { CommitRecord, CrashModel, KnownEntry } from './crash-model.js';

export type ProblemKind = 'lost' | 'torn' | 'inconsistent';

export interface Problem {
  kind: ProblemKind;
  message: string;
}

export interface CycleVerdict {
  /** Commits of the cycle that were acknowledged. */
  acknowledged: number;
  /** Commits announced but not acknowledged when the worker died. */
  inFlight: number;
  /** Of those, how many the recovered store holds (whole). */
  inFlightApplied: number;
  problems: Problem[];
}

export interface VerifyContext {
  store: Store;
  model: CrashModel;
  verdict: CycleVerdict;
  /** Per key: history entries newer than the model's newest, oldest first. */
  newEntries: Map<string, HistoryEntry[]>;
  /** Per key: the newest history entry of the recovered store. */
  recoveredNewest: Map<string, HistoryEntry | undefined>;
  claimed: Set<HistoryEntry>;
}

export type VerifyStep = (context: VerifyContext) => Promise<void>;

/** Whole-store checks, run after every recovery (and on the store a run starts from). */
export const RECOVERY_CHECKS: readonly VerifyStep[] = [checkScan, checkStats, checkBank];

/** History entries fetched per key beyond this cycle's writes: the model's newest, and room to see phantoms. */
const HISTORY_SLACK_ENTRIES = 4;

export async function verifyRecoveredStore(store: Store, model: CrashModel): Promise<CycleVerdict> {
  const commits = model.commits;
  const inFlight = commits.filter((commit) => commit.version === undefined).length;
  const verdict: CycleVerdict = { acknowledged: commits.length - inFlight, inFlight, inFlightApplied: 0, problems: [] };
  for (const message of model.takeProtocolErrors()) report(verdict, 'inconsistent', `protocol: ${message}`);
  const context = await readRecoveredState(store, model, verdict);
  checkCycleCommits(context);
  checkUnclaimed(context);
  checkNewest(context);
  advanceModel(context);
  for (const step of RECOVERY_CHECKS) await step(context);
  return verdict;
}

/** The model's starting point: the newest entry of every key of an existing store, then the whole-store checks. */
export async function adoptStore(store: Store, model: CrashModel): Promise<Problem[]> {
  const verdict: CycleVerdict = { acknowledged: 0, inFlight: 0, inFlightApplied: 0, problems: [] };
  const context = await readRecoveredState(store, model, verdict);
  advanceModel(context);
  for (const step of RECOVERY_CHECKS) await step(context);
  return verdict.problems;
}

function report(verdict: CycleVerdict, kind: ProblemKind, message: string): void {
  verdict.problems.push({ kind, message });
}

// -- reading ------------------------------------------------------------------

async function readRecoveredState(store: Store, model: CrashModel, verdict: CycleVerdict): Promise<VerifyContext> {
  const context: VerifyContext = { store, model, verdict, newEntries: new Map(), recoveredNewest: new Map(), claimed: new Set() };
  for (const key of model.keys) {
    const limit = model.writesThisCycle(key) + HISTORY_SLACK_ENTRIES;
    const history = await store.history(key, { limit }); // newest first
    context.recoveredNewest.set(key, history[0]);
    context.newEntries.set(key, entriesAfterKnown(context, key, history).reverse());
  }
  return context;
}

/** The entries newer than the model's newest for `key`; reports the newest as lost if it is gone. */
function entriesAfterKnown(context: VerifyContext, key: string, history: HistoryEntry[]): HistoryEntry[] {
  const known = context.model.newest(key);
  if (known === undefined) return history;
  const index = history.findIndex((entry) => entry.version === known.version);
  const entry = history[index];
  if (entry === undefined || !sameEntry(entry, known)) {
    report(context.verdict, 'lost', `${key}: version ${known.version} (${describeKnown(known)}), present after an earlier recovery, is gone`);
    return history.filter((candidate) => candidate.version > known.version);
  }
  return history.slice(0, index);
}

function sameEntry(entry: HistoryEntry, known: KnownEntry): boolean {
  if (entry.deleted || known.deleted) return entry.deleted === known.deleted;
  return isDeepStrictEqual(entry.value, known.value);
}

function describeKnown(known: KnownEntry): string {
  return known.deleted ? 'a delete' : `written by ${known.writeId ?? 'an unknown commit'}`;
}

// -- the cycle's commits -------------------------------------------------------

/** Acknowledged commits first, so an in-flight delete cannot claim an acknowledged tombstone. */
function checkCycleCommits(context: VerifyContext): void {
  const commits = context.model.commits;
  for (const commit of commits) if (commit.version !== undefined) checkAcknowledged(context, commit, commit.version);
  for (const commit of commits) if (commit.version === undefined) checkInFlight(context, commit);
}

function checkAcknowledged(context: VerifyContext, commit: CommitRecord, version: number): void {
  const present = claimWrites(context, commit, version);
  if (present === commit.writes.length) return;
  const kind = present === 0 ? 'lost' : 'torn';
  report(context.verdict, kind, `${commit.writeId} (acknowledged at version ${version}): ${present} of ${commit.writes.length} writes present ${describeWrites(commit)}`);
}

function checkInFlight(context: VerifyContext, commit: CommitRecord): void {
  const version = inFlightVersion(context, commit);
  const present = version === undefined ? 0 : claimWrites(context, commit, version);
  if (present === commit.writes.length) context.verdict.inFlightApplied++;
  if (present === 0 || present === commit.writes.length) return;
  report(context.verdict, 'torn', `${commit.writeId} (in flight, found at version ${version}): ${present} of ${commit.writes.length} writes present ${describeWrites(commit)}`);
}

/**
 * The version an in-flight commit would have, if any write of it is in the store:
 * a put is found by its writeId; a delete-only commit, being the last commit on its
 * keys, can only be an unclaimed tombstone that is its key's newest entry.
 */
function inFlightVersion(context: VerifyContext, commit: CommitRecord): number | undefined {
  for (const write of commit.writes) {
    if (write.kind === 'delete') continue;
    const entry = entriesOf(context, write.key).find((candidate) => writeIdOf(candidate.value) === commit.writeId);
    if (entry !== undefined) return entry.version;
  }
  for (const write of commit.writes) {
    const newest = entriesOf(context, write.key).at(-1);
    if (newest?.deleted && !context.claimed.has(newest)) return newest.version;
  }
  return undefined;
}

/** Counts the writes of `commit` present at `version` (claiming their entries); reports misplaced ones. */
function claimWrites(context: VerifyContext, commit: CommitRecord, version: number): number {
  let present = 0;
  for (const write of commit.writes) {
    const entries = entriesOf(context, write.key);
    const atVersion = entries.find((entry) => entry.version === version && !context.claimed.has(entry));
    if (atVersion !== undefined && matchesWrite(context, commit, write, atVersion)) {
      context.claimed.add(atVersion);
      present++;
    } else {
      claimMisplaced(context, commit, write, version, entries);
    }
  }
  return present;
}

function matchesWrite(context: VerifyContext, commit: CommitRecord, write: WriteDescription, entry: HistoryEntry): boolean {
  if (write.kind === 'delete') return entry.deleted;
  if (entry.deleted || writeIdOf(entry.value) !== commit.writeId) return false;
  const expected = valueOf(commit.writeId, write);
  if (!isDeepStrictEqual(entry.value, expected)) {
    report(context.verdict, 'inconsistent', `${write.key}@${entry.version}: value of ${commit.writeId} differs from what it wrote`);
  }
  return true;
}

/** A put of `commit` found at another version than the commit's. */
function claimMisplaced(context: VerifyContext, commit: CommitRecord, write: WriteDescription, version: number, entries: HistoryEntry[]): void {
  if (write.kind === 'delete') return;
  const misplaced = entries.find((entry) => writeIdOf(entry.value) === commit.writeId && !context.claimed.has(entry));
  if (misplaced === undefined) return;
  context.claimed.add(misplaced);
  report(context.verdict, 'inconsistent', `${write.key}: ${commit.writeId} found at version ${misplaced.version}, expected ${version}`);
}

function entriesOf(context: VerifyContext, key: string): HistoryEntry[] {
  return context.newEntries.get(key) ?? [];
}

function describeWrites(commit: CommitRecord): string {
  return `[${commit.writes.map((write) => `${write.kind} ${write.key}`).join(', ')}]`;
}

/** Every new history entry must belong to an announced commit. */
function checkUnclaimed(context: VerifyContext): void {
  for (const [key, entries] of context.newEntries) {
    for (const entry of entries) {
      if (context.claimed.has(entry)) continue;
      const what = entry.deleted ? 'a delete' : `a value of ${writeIdOf(entry.value) ?? 'no known commit'}`;
      report(context.verdict, 'inconsistent', `${key}@${entry.version}: ${what} that no announced commit explains`);
    }
  }
}

// -- the newest entry of each key -------------------------------------------------

/**
 * Each key's newest entry must be its last applied commit of the cycle, or the
 * model's newest if none (keys with an unexplained entry are reported already).
 */
function checkNewest(context: VerifyContext): void {
  for (const key of context.model.keys) {
    if (entriesOf(context, key).some((entry) => !context.claimed.has(entry))) continue;
    const entries = entriesOf(context, key);
    const expectedVersion = entries.at(-1)?.version ?? context.model.newest(key)?.version;
    const actualVersion = context.recoveredNewest.get(key)?.version;
    if (expectedVersion !== actualVersion) {
      report(context.verdict, 'inconsistent', `${key}: newest version is ${actualVersion}, expected ${expectedVersion}`);
    }
  }
}

function advanceModel(context: VerifyContext): void {
  for (const key of context.model.keys) {
    const newest = context.recoveredNewest.get(key);
    context.model.setNewest(key, newest === undefined ? undefined : {
      version: newest.version,
      writeId: newest.deleted ? undefined : writeIdOf(newest.value),
      deleted: newest.deleted,
      value: newest.value,
    });
  }
}

// -- whole-store checks ---------------------------------------------------------------

/** The full scan holds exactly the model's live keys, in order, with their values. */
async function checkScan(context: VerifyContext): Promise<void> {
  const { store, model, verdict } = context;
  const seen = new Set<string>();
  let previous: string | undefined;
  for await (const [rawKey, value] of store.scan()) {
    const key = String(rawKey);
    if (previous !== undefined && key <= previous) report(verdict, 'inconsistent', `scan: ${key} after ${previous}`);
    previous = key;
    seen.add(key);
    const known = model.newest(key);
    if (!model.hasKey(key)) report(verdict, 'inconsistent', `scan: unexpected key ${key}`);
    else if (known === undefined || known.deleted) report(verdict, 'inconsistent', `scan: ${key} is present but deleted in the history`);
    else if (!isDeepStrictEqual(value, known.value)) report(verdict, 'inconsistent', `scan: ${key} differs from its newest history entry`);
  }
  for (const key of model.keys) {
    if (isLive(model.newest(key)) && !seen.has(key)) report(verdict, 'inconsistent', `scan: ${key} is missing`);
  }
}

function isLive(known: KnownEntry | undefined): boolean {
  return known !== undefined && !known.deleted;
}

async function checkStats(context: VerifyContext): Promise<void> {
  const { store, model, verdict } = context;
  const stats = store.stats();
  const liveKeys = model.keys.filter((key) => isLive(model.newest(key))).length;
  const newestVersion = Math.max(0, ...model.keys.map((key) => model.newest(key)?.version ?? 0));
  if (stats.failed) report(verdict, 'inconsistent', 'stats: the reopened store reports failed');
  if (stats.keysExact ? stats.keys !== liveKeys : stats.keys < liveKeys) report(verdict, 'inconsistent', `stats: keys ${stats.keys}, the scan has ${liveKeys}`);
  if (stats.version !== store.version) report(verdict, 'inconsistent', `stats: version ${stats.version}, store.version ${store.version}`);
  if (stats.version < newestVersion) report(verdict, 'inconsistent', `stats: version ${stats.version} is older than a key's newest version ${newestVersion}`);
  if (stats.recovery.repair !== undefined) report(verdict, 'inconsistent', `stats: recovery repaired the WAL: ${stats.recovery.repair.reason}`);
}

/** All accounts or none exist; balances are non-negative integers summing to BANK_TOTAL. */
async function checkBank(context: VerifyContext): Promise<void> {
  const { store, verdict } = context;
  const balances: Array<number | undefined> = [];
  for (let index = 0; index < ACCOUNT_COUNT; index++) {
    const value = await store.get(accountKey(index));
    balances.push(value === undefined ? undefined : (value as { balance?: number }).balance);
  }
  const present = balances.filter((balance) => balance !== undefined);
  if (present.length === 0) return;
  if (present.length !== ACCOUNT_COUNT) return report(verdict, 'inconsistent', `bank: ${present.length} of ${ACCOUNT_COUNT} accounts exist`);
  const total = present.reduce((sum: number, balance) => sum + (balance ?? 0), 0);
  if (total !== BANK_TOTAL) report(verdict, 'inconsistent', `bank: balances sum to ${total}, expected ${BANK_TOTAL}`);
  const invalid = present.filter((balance) => !Number.isInteger(balance) || balance! < 0);
  if (invalid.length > 0) report(verdict, 'inconsistent', `bank: invalid balances ${invalid.join(', ')}`);
}

// -- the verify command ----------------------------------------------------------------

/** Runs verifyStore on the closed store: a recovered, cleanly closed store must verify clean. */
export async function checkVerifyClean(directory: string): Promise<Problem[]> {
  const report = await verifyStore(directory);
  const problems: Problem[] = [];
  const add = (message: string) => problems.push({ kind: 'inconsistent', message: `verify: ${message}` });
  if (report.corruption !== undefined) add(`corruption in ${report.corruption.file} at ${report.corruption.offset}: ${report.corruption.reason}`);
  else if (!report.ok) add('not ok');
  if (report.tornTail !== undefined && report.tornTail.zeroedBytes > 0) add(`a torn tail in ${report.tornTail.file} at ${report.tornTail.offset} after a clean close`);
  if (report.unfinishedSegments.length > 0) add(`unfinished segments after a clean close: ${report.unfinishedSegments.join(', ')}`);
  return problems;
}
