/**
 * Shared by the durability tests: a deterministic multi-writer workload on a
 * FaultFileSystem, a record of what it acknowledged, and checks of what a store
 * reopened after a crash must hold.
 *
 * The model. Each writer owns its keys (`w<n>/...`) and runs its operations one
 * after another, awaiting each. After a crash, a writer's durable operations are
 * therefore a prefix of its plan: every acknowledged one, plus possibly the one
 * that was in flight when the store failed (rejected to the caller, but its WAL
 * record may have reached the disk). So for each writer the recovered keys must
 * equal its model after `acked` operations or after `acked + 1` (the latter only if
 * that operation was submitted). Batches write fresh keys of their own, so a batch
 * is all there or not there at all.
 */
import { expect } from 'vitest';
import { abandonStore, type Store } from '../src/store/store.js';
import { openStore } from '../src/store/open-store.js';
import type { StoreOptions } from '../src/store/options.js';
import { isLadybugError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';

export const STORE_DIR = '/db';
export const WAL_DIR = '/db/wal';
/** Small segments, so a short workload rotates segments (and pre-creates the next one) several times. */
export const SMALL_SEGMENTS = { segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 } as const;

/**
 * Opens the store on `fileSystem`. These suites test the WAL and its recovery, so
 * close() leaves the WAL in place (no checkpoint) unless `extra` says otherwise;
 * test/storage-crash.test.ts sweeps the checkpoint and flush paths.
 */
export function openOn(fileSystem: FaultFileSystem, extra: StoreOptions = {}): Promise<Store> {
  return openStore(STORE_DIR, { fileSystem, ...SMALL_SEGMENTS, checkpointOnClose: false, ...extra });
}

export function segmentPath(segmentNumber: number): string {
  return `${WAL_DIR}/wal-${String(segmentNumber).padStart(10, '0')}.log`;
}

/** Lets background work (segment pre-creation, a scheduled flush) run to completion. */
export async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await new Promise((resolve) => setTimeout(resolve, 0));
}

// ---------------------------------------------------------------------------
// The plan

export interface WrittenValue {
  writer: number;
  seq: number;
  /** The batch id for values written by a batch. */
  marker?: string;
  pad: string;
}

export type PlannedOp =
  | { kind: 'put'; writer: number; seq: number; key: string; value: WrittenValue }
  | { kind: 'del'; writer: number; seq: number; key: string }
  | { kind: 'batch'; writer: number; seq: number; id: string; puts: Array<[string, WrittenValue]> };

export interface WorkloadShape {
  writers: number;
  opsPerWriter: number;
}

export const DEFAULT_SHAPE: WorkloadShape = { writers: 8, opsPerWriter: 19 };

const OWNED_KEYS_PER_WRITER = 4;

function ownedKey(writer: number, slot: number): string {
  return `w${writer}/k${slot % OWNED_KEYS_PER_WRITER}`;
}

/** Value sizes vary (20..370 bytes, now and then ~2.5 KiB) so records straddle 512-byte sectors. */
function padFor(writer: number, seq: number): string {
  const big = (writer * 7 + seq) % 13 === 5;
  const length = big ? 2400 + ((writer * 31 + seq) % 200) : 20 + ((writer * 37 + seq * 101) % 350);
  return String.fromCharCode(97 + ((writer + seq) % 26)).repeat(length);
}

/** Every writer's operations, in order. Deterministic. */
export function planWorkload(shape: WorkloadShape = DEFAULT_SHAPE): PlannedOp[][] {
  const plan: PlannedOp[][] = [];
  for (let writer = 0; writer < shape.writers; writer++) {
    const ops: PlannedOp[] = [];
    for (let seq = 0; seq < shape.opsPerWriter; seq++) {
      if (seq % 5 === 3) {
        const id = `b${writer}-${seq}`;
        const puts: Array<[string, WrittenValue]> = [];
        for (let part = 0; part < 3; part++) {
          puts.push([`w${writer}/batch/${id}/${part}`, { writer, seq, marker: id, pad: padFor(writer, seq + part).slice(0, 120) }]);
        }
        // A batch also overwrites one of the writer's own keys.
        puts.push([ownedKey(writer, seq + 1), { writer, seq, marker: id, pad: padFor(writer, seq) }]);
        ops.push({ kind: 'batch', writer, seq, id, puts });
      } else if (seq % 7 === 6) {
        ops.push({ kind: 'del', writer, seq, key: ownedKey(writer, seq) });
      } else {
        ops.push({ kind: 'put', writer, seq, key: ownedKey(writer, seq), value: { writer, seq, pad: padFor(writer, seq) } });
      }
    }
    plan.push(ops);
  }
  return plan;
}

/** A writer's keys after its first `count` operations (undefined = absent). */
export function modelAfter(ops: readonly PlannedOp[], count: number): Map<string, WrittenValue> {
  const state = new Map<string, WrittenValue>();
  for (const op of ops.slice(0, count)) {
    if (op.kind === 'put') state.set(op.key, op.value);
    else if (op.kind === 'del') state.delete(op.key);
    else for (const [key, value] of op.puts) state.set(key, value);
  }
  return state;
}

// ---------------------------------------------------------------------------
// Running it

export interface WriterRecord {
  /** Versions of the acknowledged operations, in plan order (a prefix of the plan). */
  ackedVersions: number[];
  /** Whether the operation after the acknowledged prefix was submitted (and rejected). */
  inFlightSubmitted: boolean;
  /** The error that operation was rejected with. */
  rejection?: unknown;
}

export interface WorkloadRecord {
  store: Store | undefined;
  openError: unknown;
  writers: WriterRecord[];
  maxAckedVersion: number;
}

export function applyOp(store: Store, op: PlannedOp): Promise<{ version: number }> {
  if (op.kind === 'put') return store.put(op.key, op.value);
  if (op.kind === 'del') return store.delete(op.key);
  return store.batch(op.puts.map(([key, value]) => ({ type: 'put' as const, key, value })));
}

/**
 * Opens the store on `fileSystem` and runs every writer concurrently. A writer stops
 * at its first rejected operation (after a failure the store rejects everything).
 * Never throws: an open that fails (a crash during open) is recorded.
 */
export async function runWorkload(fileSystem: FaultFileSystem, plan: readonly PlannedOp[][], extra: StoreOptions = {}): Promise<WorkloadRecord> {
  const writers: WriterRecord[] = plan.map(() => ({ ackedVersions: [], inFlightSubmitted: false }));
  let store: Store;
  try {
    store = await openOn(fileSystem, extra);
  } catch (error) {
    return { store: undefined, openError: error, writers, maxAckedVersion: 0 };
  }
  await Promise.all(
    plan.map(async (ops, writer) => {
      const record = writers[writer]!;
      for (const op of ops) {
        try {
          const { version } = await applyOp(store, op);
          record.ackedVersions.push(version);
        } catch (error) {
          record.inFlightSubmitted = true;
          record.rejection = error;
          return;
        }
      }
    }),
  );
  await settle();
  const maxAckedVersion = Math.max(0, ...writers.flatMap((writer) => writer.ackedVersions));
  return { store, openError: undefined, writers, maxAckedVersion };
}

/** Makes the workload's store handle act like a dead process (no I/O, lock forgotten). */
export function abandon(record: WorkloadRecord): void {
  record.store?.[abandonStore]();
}

// ---------------------------------------------------------------------------
// Reading a store back

export async function scanAll(store: Store): Promise<Map<string, unknown>> {
  const entries = new Map<string, unknown>();
  for await (const [key, value] of store.scan()) entries.set(key as string, value);
  return entries;
}

export interface StoreSnapshot {
  version: number;
  entries: Array<[string, unknown]>;
}

export async function snapshot(store: Store): Promise<StoreSnapshot> {
  return { version: store.version, entries: [...(await scanAll(store))] };
}

function sameValue(left: unknown, right: unknown): boolean {
  try {
    expect(left).toEqual(right);
    return true;
  } catch {
    return false;
  }
}

function describeState(state: Map<string, unknown>): string {
  return JSON.stringify([...state].map(([key, value]) => {
    const written = value as Partial<WrittenValue> | undefined;
    return [key, written?.seq, written?.marker];
  }));
}

/**
 * Everything a store reopened after a crash of `record`'s run must satisfy; returns
 * the problems found (empty when all hold), so a sweep over crash points can report
 * which point failed and how.
 */
export async function checkRecovered(
  store: Store,
  plan: readonly PlannedOp[][],
  record: WorkloadRecord,
  extraKeys: readonly string[] = [],
): Promise<string[]> {
  const problems: string[] = [];
  const content = await scanAll(store);
  if (store.version < record.maxAckedVersion) {
    problems.push(`version ${store.version} is below the highest acknowledged version ${record.maxAckedVersion}`);
  }
  const writerOf = (key: string): number => Number(/^w(\d+)\//.exec(key)?.[1] ?? -1);
  for (const key of content.keys()) {
    if (extraKeys.includes(key)) continue;
    if (writerOf(key) < 0 || writerOf(key) >= plan.length) problems.push(`unexpected key ${key}`);
  }
  for (const [writer, ops] of plan.entries()) {
    const written = record.writers[writer]!;
    const acked = written.ackedVersions.length;
    const recovered = new Map([...content].filter(([key]) => writerOf(key) === writer));

    // Every acknowledged operation is in the key's history at its acknowledged version.
    for (const [index, version] of written.ackedVersions.entries()) {
      const op = ops[index]!;
      const expected: Array<[string, WrittenValue | undefined]> =
        op.kind === 'put' ? [[op.key, op.value]] : op.kind === 'del' ? [[op.key, undefined]] : op.puts;
      for (const [key, value] of expected) {
        const entry = (await store.history(key)).find((candidate) => candidate.version === version);
        const matches = entry !== undefined && (value === undefined ? entry.deleted : !entry.deleted && sameValue(entry.value, value));
        if (!matches) problems.push(`writer ${writer}: acknowledged ${op.kind} #${op.seq} of ${key} at version ${version} is missing from its history`);
      }
    }

    // No batch is half applied.
    for (const op of ops) {
      if (op.kind !== 'batch') continue;
      const carrying = op.puts.filter(([key]) => (content.get(key) as WrittenValue | undefined)?.marker === op.id).length;
      const ownKeys = op.puts.filter(([key]) => key.includes('/batch/')).length;
      const batchKeysPresent = op.puts.filter(([key]) => key.includes('/batch/') && content.has(key)).length;
      if (batchKeysPresent !== 0 && batchKeysPresent !== ownKeys) {
        problems.push(`batch ${op.id} is half applied: ${batchKeysPresent} of its ${ownKeys} keys present (${carrying} carry its marker)`);
      }
    }

    // The writer's keys are exactly its model after the acknowledged prefix, or after one
    // more, unless that one was rejected with StoreFailedError: never written, so absent.
    const rejection = written.rejection;
    const neverWritten = isLadybugError(rejection) && rejection.code === 'LADYBUG_STORE_FAILED';
    const candidates = [modelAfter(ops, acked)];
    if (written.inFlightSubmitted && !neverWritten) candidates.push(modelAfter(ops, acked + 1));
    if (!candidates.some((candidate) => sameValue(recovered, candidate))) {
      problems.push(
        `writer ${writer} (acked ${acked}, in flight ${written.inFlightSubmitted}): recovered ${describeState(recovered)}, ` +
          `expected one of ${candidates.map(describeState).join(' | ')}`,
      );
    }

    // A rejection during a crash is the store failing (written: outcome unknown), nothing else.
    const storeFailure = isLadybugError(rejection) && (rejection.code === 'LADYBUG_STORE_FAILED' || rejection.code === 'LADYBUG_COMMIT_OUTCOME_UNKNOWN');
    if (rejection !== undefined && !storeFailure) {
      problems.push(`writer ${writer} was rejected with ${String(rejection)}, expected StoreFailedError or CommitOutcomeUnknownError`);
    }
  }
  return problems;
}
