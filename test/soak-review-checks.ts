/**
 * Checks a store reopened after the soak workload (a crash or a clean close) against its
 * model (soak-review-model.ts). Returns every problem found, as text.
 *
 * - history: every entry belongs to a commit, with its exact value, every commit's writes at
 *   one version (the acknowledged version when known); acknowledged commits above the
 *   retention floor all there, commits refused as never written absent, commits in flight
 *   whole or absent; each key's commits in the order they were submitted;
 * - get and as-of reads agree with history at every version from the floor up;
 * - the watcher: everything it was given is in the store; what it was given above the floor
 *   is exactly the store's changes up to its last version, and a feed resumed there gives
 *   exactly the rest, no gap, no duplicate;
 * - what the snapshot and the long scan read equals the store's state at their versions;
 * - the lease held when it crashed is gone and a new one gets a higher token;
 * - a backup that resolved verifies and restores to the store's state at its version, one
 *   that did not is refused or complete;
 * - a scrub finds nothing unrecoverable, and verifyStore is clean after the close.
 */
import { isDeepStrictEqual } from 'node:util';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { type HistoryEntry, openStore, restoreBackup, type Store, verifyBackup } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import type { CommitRecord, Delivered, SoakModel } from './soak-review-model.js';
import { ALL_KEYS, BOUND_KEY, LEASE_NAME, STORE, STORE_OPTIONS } from './soak-review-workload.js';

interface Entry { key: string; version: number; deleted: boolean; value?: unknown }

const show = (item: unknown) => JSON.stringify(item, (_, value: unknown) => (typeof value === 'string' && value.length > 24 ? `${value.slice(0, 6)}..(${value.length})` : value));

export async function checkRecovered(fileSystem: FaultFileSystem, model: SoakModel): Promise<string[]> {
  const problems: string[] = [];
  let store: Store;
  try {
    store = await openStore(STORE, { fileSystem, ...STORE_OPTIONS });
  } catch (error) {
    return [`open failed: ${(error as Error).stack}`];
  }
  try {
    const floor = store.stats().storage.compaction.retentionFloor;
    const histories = new Map<string, Entry[]>();
    for (const key of ALL_KEYS) {
      const entries = (await store.history(key)).map((entry: HistoryEntry) => ({ key, ...entry } as Entry)).reverse();
      histories.set(key, entries);
    }
    checkCommits(model, histories, floor, store.version, problems);
    checkCounter(histories, floor, problems);
    await checkReads(store, histories, floor, problems);
    await checkWatcher(store, model.delivered, histories, floor, problems);
    await checkSnapshotsAndScan(store, model, histories, floor, problems);
    await checkLease(store, model, problems);
    await checkBackups(fileSystem, model, histories, floor, problems);
    const scrub = await store.scrub();
    if (scrub.unrecoverable.length > 0) problems.push(`scrub after reopen: unrecoverable ${show(scrub.unrecoverable)}`);
    await store.put(ALL_KEYS[0]!, { id: 'after-reopen' });
  } catch (error) {
    problems.push(`reading the recovered store failed: ${(error as Error).stack}`);
  } finally {
    await store.close().catch((error: unknown) => problems.push(`close failed: ${String(error)}`));
  }
  const report = await verifyStore(STORE, { fileSystem });
  if (!report.ok) problems.push(`verifyStore: ${show({ corruption: report.corruption, runs: report.runs.problems, manifest: report.manifest?.problems })}`);
  return problems;
}

/** The value of `key` at `version` by its history (undefined: absent or deleted). */
function valueAt(entries: readonly Entry[], version: number): unknown {
  let found: Entry | undefined;
  for (const entry of entries) if (entry.version <= version) found = entry;
  return found === undefined || found.deleted ? undefined : found.value;
}

function checkCommits(model: SoakModel, histories: Map<string, Entry[]>, floor: number, now: number, problems: string[]): void {
  const byId = model.byId();
  const found = new Map<string, Entry[]>();
  const deletes: Entry[] = [];
  for (const entries of histories.values()) {
    for (const entry of entries) {
      if (entry.deleted) { deletes.push(entry); continue; }
      const id = (entry.value as { id?: string } | undefined)?.id;
      const record = id === undefined ? undefined : byId.get(id);
      if (record === undefined) { problems.push(`${entry.key}@${entry.version}: a value no commit wrote ${show(entry.value)}`); continue; }
      if (!isDeepStrictEqual(record.writes.get(entry.key), entry.value)) problems.push(`${entry.key}@${entry.version}: ${show(entry.value)}, commit ${record.id} wrote ${show(record.writes.get(entry.key))}`);
      found.set(record.id, [...(found.get(record.id) ?? []), entry]);
    }
  }
  const versionOf = (record: CommitRecord) => record.version ?? found.get(record.id)?.[0]?.version;
  for (const entry of deletes) {
    const owner = model.commits.find((record) => record.writes.has(entry.key) && record.writes.get(entry.key) === undefined && versionOf(record) === entry.version)
      ?? model.commits.find((record) => record.state !== 'absent' && record.version === undefined && !found.has(record.id) && [...record.writes.values()].every((value) => value === undefined) && record.writes.has(entry.key));
    if (owner === undefined) { problems.push(`${entry.key}@${entry.version}: a delete no commit made`); continue; }
    found.set(owner.id, [...(found.get(owner.id) ?? []), entry]);
  }
  for (const record of model.commits) {
    const entries = found.get(record.id) ?? [];
    const versions = new Set(entries.map((entry) => entry.version));
    const label = `commit ${record.id} (${record.kind}, ${record.state}${record.error === undefined ? '' : ` ${record.error}`}, version ${record.version}, submitted at ${record.after}, floor ${floor})`;
    if (versions.size > 1) problems.push(`${label}: its writes at versions ${[...versions].join(',')}`);
    const version = versions.values().next().value as number | undefined;
    if (record.version !== undefined && version !== undefined && version !== record.version) problems.push(`${label}: found at ${version}`);
    if (version !== undefined && version <= record.after!) problems.push(`${label}: found at ${version}, not after its submission`);
    if (record.state === 'absent' && entries.length > 0) problems.push(`${label}: refused as never written, but there at ${version}`);
    const aboveFloor = (record.version ?? record.after! + 1) > floor;
    if (!aboveFloor) continue;
    if (record.state === 'acknowledged' && entries.length === 0) problems.push(`${label}: acknowledged, lost (store at ${now})`);
    if (entries.length > 0 && entries.length < record.writes.size) problems.push(`${label}: torn, ${entries.length} of ${record.writes.size} writes there`);
  }
  // Each key's commits in the order they were submitted (one owner per key, one commit in flight).
  const order = new Map(model.commits.map((record, index) => [record.id, index]));
  for (const [key, entries] of histories) {
    if (key.startsWith('tx/')) continue; // two transactions at once: committed in either order, checked by the counter below
    const owners = entries.map((entry) => [...found].find(([, list]) => list.includes(entry))?.[0]).filter((id): id is string => id !== undefined);
    for (let index = 1; index < owners.length; index++) {
      if (order.get(owners[index]!)! < order.get(owners[index - 1]!)!) problems.push(`${key}: commit ${owners[index]} after ${owners[index - 1]} in history, submitted before it`);
    }
  }
}

/** Every increment of the transactions' counter there once, in version order: no lost update, no gap. */
function checkCounter(histories: Map<string, Entry[]>, floor: number, problems: string[]): void {
  const entries = histories.get('tx/counter')!.filter((entry) => entry.version >= floor || entry === histories.get('tx/counter')!.at(0));
  const counts = entries.map((entry) => (entry.value as { n: number }).n);
  for (let index = 1; index < counts.length; index++) {
    if (counts[index] !== counts[index - 1]! + 1) problems.push(`tx/counter: increments ${show(counts)} (floor ${floor}): a lost or repeated update`);
  }
}

async function checkReads(store: Store, histories: Map<string, Entry[]>, floor: number, problems: string[]): Promise<void> {
  const now = store.version;
  for (const [key, entries] of histories) {
    const newest = await store.get(key);
    if (!isDeepStrictEqual(newest, valueAt(entries, now))) problems.push(`get ${key}: ${show(newest)}, history says ${show(valueAt(entries, now))}`);
    for (let version = Math.max(floor, 1); version <= now; version += 3) {
      const old = await store.get(key, { asOf: version }).catch((error: unknown) => `error ${(error as { code?: string }).code ?? String(error)}`);
      if (!isDeepStrictEqual(old, valueAt(entries, version))) problems.push(`get ${key} asOf ${version} (floor ${floor}): ${show(old)}, history says ${show(valueAt(entries, version))}`);
    }
  }
}

function changesIn(histories: Map<string, Entry[]>, above: number, upTo: number): Delivered[] {
  const changes: Delivered[] = [];
  for (const entries of histories.values()) {
    for (const entry of entries) {
      if (entry.version > above && entry.version <= upTo) changes.push({ version: entry.version, key: entry.key, deleted: entry.deleted, ...(entry.deleted ? {} : { value: entry.value }) });
    }
  }
  return changes.sort((left, right) => left.version - right.version || (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
}

/**
 * A feed ended by the crash (the store failed, then closed) may stop part-way through its
 * last commit's changes (close() delivers nothing more), so the consumer resumes from the
 * version before its last one and skips what it already has: everything it was given must
 * be the store's changes exactly, the last commit's a prefix of its changes.
 */
async function checkWatcher(store: Store, delivered: readonly Delivered[], histories: Map<string, Entry[]>, floor: number, problems: string[]): Promise<void> {
  const last = delivered.at(-1)?.version ?? 0;
  if (last > store.version) problems.push(`the watcher was given version ${last}, the recovered store is at ${store.version}`);
  const given = delivered.filter((change) => change.version > floor && histories.has(change.key));
  const expected = changesIn(histories, floor, last);
  const complete = given.filter((change) => change.version < last);
  if (!isDeepStrictEqual(complete, expected.filter((change) => change.version < last))) problems.push(`the watcher's feed above the floor ${floor} up to ${last - 1}: ${firstDifference(complete, expected)}`);
  const lastGiven = given.filter((change) => change.version === last);
  if (!isDeepStrictEqual(lastGiven, expected.filter((change) => change.version === last).slice(0, lastGiven.length))) problems.push(`the watcher's changes at ${last}: ${show(lastGiven)}, the store's ${show(expected.filter((change) => change.version === last))}`);
  const resumeFrom = Math.max(0, last - 1);
  if (resumeFrom < floor) return;
  const resumed: Delivered[] = [];
  try {
    for await (const change of store.watch({ sinceVersion: resumeFrom, untilVersion: store.version })) {
      if (histories.has(String(change.key))) resumed.push({ version: change.version, key: String(change.key), deleted: change.deleted, ...(change.deleted ? {} : { value: change.value }) });
    }
  } catch (error) {
    problems.push(`the feed resumed from ${resumeFrom}: ${String(error)}`);
  }
  const rest = changesIn(histories, resumeFrom, store.version);
  if (!isDeepStrictEqual(resumed, rest)) problems.push(`the feed resumed from ${resumeFrom}: ${firstDifference(resumed, rest)}`);
}

function firstDifference(got: readonly Delivered[], want: readonly Delivered[]): string {
  const index = got.findIndex((change, at) => !isDeepStrictEqual(change, want[at]));
  const at = index === -1 ? Math.min(got.length, want.length) : index;
  return `${got.length} changes against ${want.length}; first difference at ${at}: got ${show(got[at])}, want ${show(want[at])}`;
}

async function checkSnapshotsAndScan(store: Store, model: SoakModel, histories: Map<string, Entry[]>, floor: number, problems: string[]): Promise<void> {
  for (const [version, reads] of model.snapshotReads) {
    if (reads === undefined || version < floor) continue;
    for (const key of ALL_KEYS) {
      if (!isDeepStrictEqual(reads.get(key), valueAt(histories.get(key)!, version))) problems.push(`snapshot@${version} read ${key} as ${show(reads.get(key))}, the store's history says ${show(valueAt(histories.get(key)!, version))}`);
    }
  }
  if (model.scan !== undefined && model.scan.version >= floor) {
    const expected = ALL_KEYS.map((key) => [key, valueAt(histories.get(key)!, model.scan!.version)] as [string, unknown]).filter(([, value]) => value !== undefined);
    const read = model.scan.entries.filter(([key]) => histories.has(key));
    if (!isDeepStrictEqual(read, expected)) problems.push(`the long scan at ${model.scan.version} read ${show(read.map(([key]) => key))}, the store has ${show(expected.map(([key]) => key))} (or other values)`);
  }
}

async function checkLease(store: Store, model: SoakModel, problems: string[]): Promise<void> {
  const bound = await store.get(BOUND_KEY);
  if (bound !== undefined) problems.push(`the key bound to the crashed process's lease is still there after reopen: ${show(bound)}`);
  if (model.boundWritten && (await store.history(BOUND_KEY))[0]?.deleted === false) problems.push('the bound key\'s newest history entry is not its deletion');
  const held = await store.leases.get(LEASE_NAME);
  if (held !== undefined) problems.push(`the lease of the crashed process is still held after reopen: ${show(held)}`);
  const lease = await store.leases.acquire(LEASE_NAME, { owner: 'after', ttlMs: 1000 });
  const before = Math.max(0, ...model.leaseTokens);
  if (lease.token <= before) problems.push(`a new lease token ${lease.token} is not above the last one ${before}`);
  await store.leases.release(LEASE_NAME, lease);
}

async function checkBackups(fileSystem: FaultFileSystem, model: SoakModel, histories: Map<string, Entry[]>, floor: number, problems: string[]): Promise<void> {
  for (const directory of model.backupsStarted) {
    const resolved = model.backups.get(directory);
    const report = await verifyBackup(directory, { fileSystem });
    if (resolved !== undefined && !report.restorable) { problems.push(`backup ${directory} resolved at ${resolved}, verify after the crash: ${show(report.problems)}`); continue; }
    if (!report.restorable || report.version === undefined) continue;
    const at = report.version;
    if (resolved !== undefined && report.version !== resolved) problems.push(`backup ${directory}: resolved at ${resolved}, BACKUP.json says ${report.version}`);
    const target = `/restored${directory}`;
    await restoreBackup(directory, target, { fileSystem });
    const restored = await openStore(target, { fileSystem, ...STORE_OPTIONS });
    try {
      if (at >= floor) {
        for (const key of ALL_KEYS) {
          const value = await restored.get(key);
          if (!isDeepStrictEqual(value, valueAt(histories.get(key)!, at))) problems.push(`backup ${directory}@${at} restored ${key} as ${show(value)}, the store's history says ${show(valueAt(histories.get(key)!, at))}`);
        }
      }
    } finally {
      await restored.close();
    }
  }
}
