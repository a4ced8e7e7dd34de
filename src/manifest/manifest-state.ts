/**
 * The manifest's state and edits, as plain values, and the pure function that applies
 * an edit to a state. The Manifest (manifest.ts) applies edits with it before writing
 * them, and recovery (manifest-reader.ts) replays the written edits with it, so what
 * was checked before the write is what a reopen reconstructs.
 *
 * Invariants of a ManifestState (checked by checkState, and by applyEdit for the result):
 * - run ids are unique, non-negative safe integers, each below nextRunId;
 * - `runs` is in install order: an edit's added runs go after the runs already live;
 * - flushedVersion, walStartSegment and versionHighWater never decrease, and
 *   nextRunId never decreases (run ids are never reused);
 * - retentionFloor (absent = 0) never decreases, and stays at or below flushedVersion
 *   when it is raised (src/compaction/retention-floor.ts): as-of reads below it are
 *   refused for every key, and compaction drops what only they could read.
 * - reservedEntryCounts (absent = false) never goes back to absent once set; it is set
 *   whenever a run carries reservedEntryCount (copyState and applyEdit see to it), and
 *   a state with it is written as manifest format 3 (manifest-format.ts), which earlier
 *   code refuses: it rejects a descriptor with a field it does not know.
 */
import type { RunDescriptor } from '../run/run-descriptor.js';

export interface ManifestState {
  /** Live runs, in install order (oldest first). */
  runs: RunDescriptor[];
  /** Run ids are never reused: every id the manifest ever named is below this. */
  nextRunId: number;
  /** Every commit with version <= this is in the runs; WAL replay skips them. */
  flushedVersion: number;
  /** First WAL segment still needed (recovery refuses a log that starts later). */
  walStartSegment: number;
  /** No version at or below this is ever assigned again. */
  versionHighWater: number;
  /**
   * Retention by age: sparse [version, commit time ms] samples, ordered (see
   * src/compaction/version-times.ts). Optional (manifest format 1, compatible
   * addition): absent in stores written before it and in stores without retainVersionsMs.
   */
  versionTimes?: Array<[number, number]>;
  /**
   * The store-wide retention floor (src/compaction/retention-floor.ts): reads as of a
   * version below it are refused. Optional: absent means 0. A state with a floor
   * above 0 is written with manifest format version 2 (manifest-format.ts).
   */
  retentionFloor?: number;
  /**
   * True once the state may hold descriptors with reservedEntryCount (manifest format
   * 3). A new store starts with it (src/engine/open-engine.ts); a store of an earlier
   * release gains it with the first edit that adds such a run, which rewrites the
   * manifest (manifest.ts), so no format 1 or 2 chain ever holds the field.
   */
  reservedEntryCounts?: true;
}

export interface ManifestEdit {
  addRuns?: RunDescriptor[];
  removeRunIds?: number[];
  nextRunId?: number;
  flushedVersion?: number;
  walStartSegment?: number;
  versionHighWater?: number;
  /** Replaces the state's versionTimes (written by compaction when retainVersionsMs is set). */
  versionTimes?: Array<[number, number]>;
  /** Raises the retention floor (never lowers it). */
  retentionFloor?: number;
}

export const EMPTY_MANIFEST_STATE: Readonly<ManifestState> = Object.freeze({
  runs: [],
  nextRunId: 1,
  flushedVersion: 0,
  walStartSegment: 1,
  versionHighWater: 0,
});

const DESCRIPTOR_NUMBER_FIELDS = [
  'runId',
  'generation',
  'level',
  'fileBytes',
  'entryCount',
  'keyCount',
  'minVersion',
  'maxVersion',
] as const;
const DESCRIPTOR_STRING_FIELDS = ['fileName', 'smallestKey', 'largestKey', 'footerChecksum'] as const;
const DESCRIPTOR_FIELD_COUNT = DESCRIPTOR_NUMBER_FIELDS.length + DESCRIPTOR_STRING_FIELDS.length;
/** Optional (manifest format 3): absent in descriptors of runs written by earlier releases. */
const DESCRIPTOR_OPTIONAL_COUNT_FIELD = 'reservedEntryCount';
const FOOTER_CHECKSUM_PATTERN = /^[0-9a-f]{16}$/;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Why `value` is not a well-formed RunDescriptor, or undefined when it is. */
export function descriptorProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'run descriptor is not an object';
  const record = value as Record<string, unknown>;
  const optionalCount = record[DESCRIPTOR_OPTIONAL_COUNT_FIELD] === undefined ? 0 : 1;
  if (Object.keys(record).length !== DESCRIPTOR_FIELD_COUNT + optionalCount) return 'run descriptor has unexpected fields';
  if (optionalCount === 1 && !isCount(record[DESCRIPTOR_OPTIONAL_COUNT_FIELD])) return 'run descriptor field reservedEntryCount is not a non-negative integer';
  if (optionalCount === 1 && (record[DESCRIPTOR_OPTIONAL_COUNT_FIELD] as number) > (record.entryCount as number)) return 'run descriptor reservedEntryCount > entryCount';
  for (const field of DESCRIPTOR_NUMBER_FIELDS) {
    if (!isCount(record[field])) return `run descriptor field ${field} is not a non-negative integer`;
  }
  for (const field of DESCRIPTOR_STRING_FIELDS) {
    if (typeof record[field] !== 'string') return `run descriptor field ${field} is not a string`;
  }
  if (record.fileName === '' || String(record.fileName).includes('/')) return 'run descriptor fileName is not a plain name';
  if (!FOOTER_CHECKSUM_PATTERN.test(String(record.footerChecksum))) return 'run descriptor footerChecksum is not 16 hex digits';
  if ((record.generation as number) > 0xffffffff) return 'run descriptor generation is not a u32';
  if ((record.minVersion as number) > (record.maxVersion as number)) return 'run descriptor minVersion > maxVersion';
  return undefined;
}

/** A copy holding exactly the descriptor's own fields (nothing a caller can mutate later). */
export function copyDescriptor(descriptor: RunDescriptor): RunDescriptor {
  const copy: RunDescriptor = {
    runId: descriptor.runId,
    generation: descriptor.generation,
    level: descriptor.level,
    fileName: descriptor.fileName,
    fileBytes: descriptor.fileBytes,
    entryCount: descriptor.entryCount,
    keyCount: descriptor.keyCount,
    minVersion: descriptor.minVersion,
    maxVersion: descriptor.maxVersion,
    smallestKey: descriptor.smallestKey,
    largestKey: descriptor.largestKey,
    footerChecksum: descriptor.footerChecksum,
  };
  if (descriptor.reservedEntryCount !== undefined) copy.reservedEntryCount = descriptor.reservedEntryCount;
  return copy;
}

/** True when some run carries reservedEntryCount (the state must then be format 3). */
function holdsReservedEntryCounts(runs: readonly RunDescriptor[]): boolean {
  return runs.some((run) => run.reservedEntryCount !== undefined);
}

export function copyState(state: Readonly<ManifestState>): ManifestState {
  const copy: ManifestState = {
    runs: state.runs.map(copyDescriptor),
    nextRunId: state.nextRunId,
    flushedVersion: state.flushedVersion,
    walStartSegment: state.walStartSegment,
    versionHighWater: state.versionHighWater,
  };
  if (state.versionTimes !== undefined) copy.versionTimes = state.versionTimes.map(([version, timeMs]) => [version, timeMs]);
  if (state.retentionFloor !== undefined) copy.retentionFloor = state.retentionFloor;
  if (state.reservedEntryCounts === true || holdsReservedEntryCounts(copy.runs)) copy.reservedEntryCounts = true;
  return copy;
}

/** Why `value` is not a list of [version, time ms] samples ordered by both, or undefined when it is. */
function versionTimesProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return 'versionTimes is not an array';
  let previous: [number, number] = [-1, -Infinity];
  for (const sample of value as unknown[]) {
    if (!Array.isArray(sample) || sample.length !== 2 || !isCount(sample[0]) || typeof sample[1] !== 'number' || !Number.isFinite(sample[1])) {
      return 'versionTimes holds a sample that is not [version, time ms]';
    }
    if (sample[0] <= previous[0] || sample[1] < previous[1]) return 'versionTimes samples are not ordered';
    previous = [sample[0], sample[1]];
  }
  return undefined;
}

/** Why `value` is not a valid ManifestState, or undefined when it is. */
export function stateProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'state is not an object';
  const state = value as Record<string, unknown>;
  const unknown = unknownField(state, 'state');
  if (unknown !== undefined) return `state has unknown field ${unknown}`;
  for (const field of ['nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater'] as const) {
    if (!isCount(state[field])) return `state field ${field} is not a non-negative integer`;
  }
  if (state.retentionFloor !== undefined && !isCount(state.retentionFloor)) return 'state field retentionFloor is not a non-negative integer';
  if (state.reservedEntryCounts !== undefined && state.reservedEntryCounts !== true) return 'state field reservedEntryCounts is not true';
  if (!Array.isArray(state.runs)) return 'state field runs is not an array';
  const timesProblem = versionTimesProblem(state.versionTimes);
  if (timesProblem !== undefined) return timesProblem;
  const seen = new Set<number>();
  for (const run of state.runs as unknown[]) {
    const problem = descriptorProblem(run);
    if (problem !== undefined) return problem;
    const runId = (run as RunDescriptor).runId;
    if (seen.has(runId)) return `run id ${runId} appears twice`;
    if (runId >= (state.nextRunId as number)) return `run id ${runId} is not below nextRunId ${String(state.nextRunId)}`;
    seen.add(runId);
  }
  return undefined;
}

const STATE_FIELDS: ReadonlySet<string> = new Set(['runs', 'nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater', 'versionTimes', 'retentionFloor', 'reservedEntryCounts']);
const EDIT_FIELDS: ReadonlySet<string> = new Set(['addRuns', 'removeRunIds', 'nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater', 'versionTimes', 'retentionFloor']);

/**
 * The first field of a state (`kind` 'state') or edit map this code does not know (one
 * holding undefined is absent), or undefined. A later release that adds a field raises
 * the manifest's format version, so a record holding one whose checksum is valid was
 * written by a newer release: read without it, its meaning would be lost, and with it
 * at the next rewrite (manifest-format.ts refuses it as unsupported).
 */
export function unknownField(value: unknown, kind: 'state' | 'edit'): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const known = kind === 'state' ? STATE_FIELDS : EDIT_FIELDS;
  for (const [field, fieldValue] of Object.entries(value)) if (fieldValue !== undefined && !known.has(field)) return field;
  return undefined;
}

function optionalCountProblem(edit: Record<string, unknown>, field: string): string | undefined {
  const value = edit[field];
  return value === undefined || isCount(value) ? undefined : `edit field ${field} is not a non-negative integer`;
}

/** Why `value` is not a well-formed ManifestEdit (shape only; applyEdit checks it against a state). */
export function editProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'edit is not an object';
  const edit = value as Record<string, unknown>;
  const unknown = unknownField(edit, 'edit');
  if (unknown !== undefined) return `edit has unknown field ${unknown}`;
  for (const field of ['nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater', 'retentionFloor']) {
    const problem = optionalCountProblem(edit, field);
    if (problem !== undefined) return problem;
  }
  if (edit.addRuns !== undefined) {
    if (!Array.isArray(edit.addRuns)) return 'edit field addRuns is not an array';
    for (const run of edit.addRuns as unknown[]) {
      const problem = descriptorProblem(run);
      if (problem !== undefined) return problem;
    }
  }
  if (edit.removeRunIds !== undefined) {
    if (!Array.isArray(edit.removeRunIds)) return 'edit field removeRunIds is not an array';
    if (!(edit.removeRunIds as unknown[]).every(isCount)) return 'edit field removeRunIds holds a non-integer';
  }
  return versionTimesProblem(edit.versionTimes);
}

function monotonicProblem(state: Readonly<ManifestState>, edit: ManifestEdit): string | undefined {
  for (const field of ['nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater'] as const) {
    const value = edit[field];
    if (value !== undefined && value < state[field]) return `${field} would decrease from ${state[field]} to ${value}`;
  }
  const floor = state.retentionFloor ?? 0;
  if (edit.retentionFloor !== undefined && edit.retentionFloor < floor) return `retentionFloor would decrease from ${floor} to ${edit.retentionFloor}`;
  // A raise stays at or below the flushed data (the header's invariant): versions above
  // flushedVersion are in memtables and the WAL, which know nothing of the floor.
  const flushedVersion = edit.flushedVersion ?? state.flushedVersion;
  if (edit.retentionFloor !== undefined && edit.retentionFloor > floor && edit.retentionFloor > flushedVersion) {
    return `retentionFloor ${edit.retentionFloor} would rise above flushedVersion ${flushedVersion}`;
  }
  return undefined;
}

/**
 * The state after `edit` (removals first, then additions appended in order), or the
 * reason the edit does not apply to `state`. Neither argument is changed.
 */
export function applyEdit(state: Readonly<ManifestState>, edit: ManifestEdit): ManifestState | string {
  const shape = editProblem(edit) ?? monotonicProblem(state, edit);
  if (shape !== undefined) return shape;
  const removed = new Set(edit.removeRunIds ?? []);
  if (removed.size !== (edit.removeRunIds ?? []).length) return 'removeRunIds names a run twice';
  const live = new Set(state.runs.map((run) => run.runId));
  for (const runId of removed) {
    if (!live.has(runId)) return `removeRunIds names run ${runId}, which is not live`;
  }
  const next: ManifestState = {
    runs: state.runs.filter((run) => !removed.has(run.runId)).map(copyDescriptor),
    nextRunId: edit.nextRunId ?? state.nextRunId,
    flushedVersion: edit.flushedVersion ?? state.flushedVersion,
    walStartSegment: edit.walStartSegment ?? state.walStartSegment,
    versionHighWater: edit.versionHighWater ?? state.versionHighWater,
  };
  const versionTimes = edit.versionTimes ?? state.versionTimes;
  if (versionTimes !== undefined) next.versionTimes = versionTimes.map(([version, timeMs]) => [version, timeMs]);
  const retentionFloor = edit.retentionFloor ?? state.retentionFloor;
  if (retentionFloor !== undefined) next.retentionFloor = retentionFloor;
  for (const run of edit.addRuns ?? []) {
    if (live.has(run.runId) || removed.has(run.runId)) return `addRuns names run ${run.runId}, which was already used`;
    next.runs.push(copyDescriptor(run));
  }
  if (state.reservedEntryCounts === true || holdsReservedEntryCounts(edit.addRuns ?? [])) next.reservedEntryCounts = true;
  return stateProblem(next) ?? next;
}

/** True when the two states are equal field by field (runs in the same order). */
export function statesEqual(left: Readonly<ManifestState>, right: Readonly<ManifestState>): boolean {
  return JSON.stringify(copyState(left)) === JSON.stringify(copyState(right));
}
