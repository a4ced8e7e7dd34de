/**
 * Manifest bytes: file names, the record frame and the record payloads. Every byte
 * is described in docs/FORMAT.md, section "Manifest"; keep the two in step.
 *
 * A manifest file is a chain of records, back to back from offset 0, with no file
 * header and no padding. The first record is a full state (kind 'state'); every
 * later record is one edit (kind 'edit'). Sequence numbers increase by exactly one
 * from record to record, and continue across full rewrites (a rewrite's state
 * record takes the next number), so a record can never be mistaken for another.
 *
 * Frame (24 bytes, then the payload):
 *   0  u32 magic 'LBMR'   4  u32 payload length   8  u64 sequence number
 *   16 u64 checksum: xxHash64 of bytes 0..15 and the payload (everything but itself)
 *
 * Invariants: encodeRecord refuses a payload over MANIFEST_RECORD_BYTES_MAX;
 * decodeRecordAt never reads past the buffer it is given and never throws on bad
 * bytes (it returns a reason).
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { Buffer } from 'node:buffer';
import { MANIFEST_RECORD_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { readUint64, writeUint64, type Hash64 } from '../wal/wal-format.js';
import { editProblem, stateProblem, unknownField, type ManifestEdit, type ManifestState } from './manifest-state.js';

/**
 * The format version of a state record whose state has a retention floor above 0.
 * Version 2 differs from 1 only in `state.retentionFloor`: a store that never raised
 * its floor keeps writing version 1, so earlier code still opens it; earlier code
 * refuses version 2 (it would answer reads below the floor with "absent" for the keys
 * compaction dropped). The first edit that raises the floor rewrites the manifest
 * (manifest.ts), so no version 1 chain ever holds a floor.
 */
export const MANIFEST_FORMAT_VERSION_FLOOR = 2;
/** The format version a state without a retention floor is written with. */
export const MANIFEST_FORMAT_VERSION_NO_FLOOR = 1;
/**
 * Version 3: the state's run descriptors may carry reservedEntryCount (the state says
 * `reservedEntryCounts: true`), with or without a floor. Earlier code must refuse it:
 * it rejects a descriptor with a field it does not know as a damaged record (a
 * misleading CorruptionError), so a chain that may hold the field says so in its
 * state record and earlier code reports the version instead ("unsupported manifest
 * format version 3"). A store of an earlier release is rewritten as version 3 by the
 * first edit that adds such a descriptor (manifest.ts): the format version of the
 * state after an edit is never below the one before.
 */
export const MANIFEST_FORMAT_VERSION_RESERVED_COUNTS = 3;
/** The newest format version this code writes. */
export const MANIFEST_FORMAT_VERSION = MANIFEST_FORMAT_VERSION_RESERVED_COUNTS;

/** The format version of a state record holding `state`. */
export function stateFormatVersion(state: Readonly<ManifestState>): number {
  if (state.reservedEntryCounts === true || state.runs.some((run) => run.reservedEntryCount !== undefined)) return MANIFEST_FORMAT_VERSION_RESERVED_COUNTS;
  return (state.retentionFloor ?? 0) > 0 ? MANIFEST_FORMAT_VERSION_FLOOR : MANIFEST_FORMAT_VERSION_NO_FLOOR;
}
export const MANIFEST_DIRECTORY_NAME = 'manifest';
export const RECORD_MAGIC = 0x524d424c; // bytes 4c 42 4d 52, "LBMR"
export const RECORD_FRAME_BYTES = 24;
const CHECKSUM_OFFSET = 16;
const GENERATION_DIGITS = 10;

export type CopyName = 'a' | 'b';
export const COPY_NAMES: readonly CopyName[] = ['a', 'b'];

const packOptions = { useRecords: false, moreTypes: true } as const;
const packer = new Packr(packOptions);
const unpacker = new Unpackr(packOptions);

// ---------------------------------------------------------------------------
// Names

/** `MANIFEST-0000000007.a`: generation (10 decimal digits, more from 10,000,000,000 on) and copy. */
export function copyFileName(generation: number, copy: CopyName): string {
  assert(Number.isSafeInteger(generation) && generation >= 1, `generation ${generation}`);
  return `MANIFEST-${String(generation).padStart(GENERATION_DIGITS, '0')}.${copy}`;
}

export function temporaryFileName(generation: number, copy: CopyName): string {
  return `${copyFileName(generation, copy)}.tmp`;
}

export interface ParsedManifestName {
  generation: number;
  copy: CopyName;
  temporary: boolean;
}

/** Ten digits, or more without a leading zero (as run ids): MANIFEST-10000000000 follows MANIFEST-9999999999. */
const NAME_PATTERN = /^MANIFEST-(\d{10}|[1-9]\d{10,})\.([ab])(\.tmp)?$/;

/** The parts of a manifest file name, or undefined for any other name. */
export function parseManifestFileName(name: string): ParsedManifestName | undefined {
  const match = NAME_PATTERN.exec(name);
  if (match === null) return undefined;
  const generation = Number(match[1]);
  if (generation < 1) return undefined;
  return { generation, copy: match[2] as CopyName, temporary: match[3] !== undefined };
}

// ---------------------------------------------------------------------------
// Payloads

export interface StatePayload {
  kind: 'state';
  formatVersion: number;
  generation: number;
  state: ManifestState;
}

/** An edit as written: nextRunId is always present (see manifest.ts, allocateRunId). */
export interface EditPayload {
  kind: 'edit';
  edit: ManifestEdit & { nextRunId: number };
}

export type RecordPayload = StatePayload | EditPayload;

function payloadProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'payload is not a map';
  const payload = value as Record<string, unknown>;
  if (payload.kind === 'edit') {
    if (Object.keys(payload).length !== 2) return 'edit payload has unexpected fields';
    const problem = editProblem(payload.edit);
    if (problem !== undefined) return problem;
    return typeof (payload.edit as ManifestEdit).nextRunId === 'number' ? undefined : 'edit without nextRunId';
  }
  if (payload.kind !== 'state') return 'unknown record kind';
  if (Object.keys(payload).length !== 4) return 'state payload has unexpected fields';
  const known: unknown[] = [MANIFEST_FORMAT_VERSION_NO_FLOOR, MANIFEST_FORMAT_VERSION_FLOOR, MANIFEST_FORMAT_VERSION_RESERVED_COUNTS];
  if (!known.includes(payload.formatVersion)) {
    return `unsupported manifest format version ${String(payload.formatVersion)}`;
  }
  if (typeof payload.generation !== 'number' || !Number.isSafeInteger(payload.generation) || payload.generation < 1) {
    return 'state payload generation is not a positive integer';
  }
  const problem = stateProblem(payload.state);
  if (problem !== undefined) return problem;
  if (payload.formatVersion !== stateFormatVersion(payload.state as ManifestState)) return 'state format version does not match its retention floor and reserved entry counts';
  return undefined;
}

/** Strips undefined fields so the bytes (and the decoded shape) are canonical. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

// ---------------------------------------------------------------------------
// Records

/** The framed bytes of one record. Throws RangeError when the payload is over MANIFEST_RECORD_BYTES_MAX. */
export function encodeRecord(sequence: number, payload: RecordPayload, hash: Hash64): Buffer {
  assert(payloadProblem(payload) === undefined, `manifest payload is valid: ${payloadProblem(payload)}`);
  const canonical = payload.kind === 'edit' ? { kind: 'edit', edit: withoutUndefined(payload.edit) } : payload;
  const body = packer.pack(canonical);
  if (body.length > MANIFEST_RECORD_BYTES_MAX) {
    throw new RangeError(`manifest record of ${body.length} bytes is over MANIFEST_RECORD_BYTES_MAX (${MANIFEST_RECORD_BYTES_MAX})`);
  }
  const record = Buffer.alloc(RECORD_FRAME_BYTES + body.length);
  record.writeUInt32LE(RECORD_MAGIC, 0);
  record.writeUInt32LE(body.length, 4);
  writeUint64(record, sequence, 8);
  body.copy(record, RECORD_FRAME_BYTES);
  record.writeBigUInt64LE(recordChecksum(record, hash), CHECKSUM_OFFSET);
  return record;
}

function recordChecksum(record: Buffer, hash: Hash64): bigint {
  const covered = Buffer.concat([record.subarray(0, CHECKSUM_OFFSET), record.subarray(RECORD_FRAME_BYTES)]);
  return hash(covered);
}

export interface DecodedRecord {
  offset: number;
  sizeBytes: number;
  sequence: number;
  payload: RecordPayload;
}

export type RecordRead =
  | { ok: true; record: DecodedRecord }
  /**
   * `absent`: no byte of a record at `offset` (the copy ends there). `newer`: the record is
   * whole (checksum valid) but of a kind or format version this code does not read, what it
   * holds (a newer release wrote it: never a torn tail or damage, manifest-reader.ts).
   */
  | { ok: false; absent: boolean; reason: string; newer?: string };

/** What this code reads, as an UnsupportedFormatError names it. */
export const SUPPORTED_MANIFEST_FORMATS = `manifest format versions ${MANIFEST_FORMAT_VERSION_NO_FLOOR}, ${MANIFEST_FORMAT_VERSION_FLOOR} and ${MANIFEST_FORMAT_VERSION_RESERVED_COUNTS}, record kinds "state" and "edit" with the fields docs/FORMAT.md lists`;

/** The kind, format version or state/edit field of a decoded payload this code does not read, if it holds one. */
function newerPayload(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const payload = value as Record<string, unknown>;
  if (payload.kind !== 'state' && payload.kind !== 'edit') return `manifest record kind ${describeField(payload.kind)}`;
  const known: unknown[] = [MANIFEST_FORMAT_VERSION_NO_FLOOR, MANIFEST_FORMAT_VERSION_FLOOR, MANIFEST_FORMAT_VERSION_RESERVED_COUNTS];
  if (payload.kind === 'state' && !known.includes(payload.formatVersion)) return `manifest format version ${describeField(payload.formatVersion)}`;
  const field = unknownField(payload.kind === 'state' ? payload.state : payload.edit, payload.kind);
  return field === undefined ? undefined : `manifest ${payload.kind} field ${describeField(field)}`;
}

function describeField(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : typeof value === 'number' ? String(value) : typeof value;
}

/** Reads the record at `offset` of `image`; never throws on bad bytes. */
export function decodeRecordAt(image: Buffer, offset: number, hash: Hash64): RecordRead {
  if (offset >= image.length) return { ok: false, absent: true, reason: 'end of file' };
  if (image.length - offset < RECORD_FRAME_BYTES) return { ok: false, absent: false, reason: 'incomplete record frame' };
  if (image.readUInt32LE(offset) !== RECORD_MAGIC) return { ok: false, absent: false, reason: 'bad record magic' };
  const lengthBytes = image.readUInt32LE(offset + 4);
  if (lengthBytes > MANIFEST_RECORD_BYTES_MAX) return { ok: false, absent: false, reason: 'record length over the bound' };
  const end = offset + RECORD_FRAME_BYTES + lengthBytes;
  if (end > image.length) return { ok: false, absent: false, reason: 'record runs past the end of the file' };
  const record = image.subarray(offset, end);
  if (record.readBigUInt64LE(CHECKSUM_OFFSET) !== recordChecksum(record, hash)) {
    return { ok: false, absent: false, reason: 'record checksum mismatch' };
  }
  let payload: unknown;
  try {
    payload = unpacker.unpack(record.subarray(RECORD_FRAME_BYTES));
  } catch {
    return { ok: false, absent: false, reason: 'record payload does not decode' };
  }
  const problem = payloadProblem(payload);
  if (problem !== undefined) return { ok: false, absent: false, reason: problem, newer: newerPayload(payload) };
  const sequence = readUint64(record, 8);
  return { ok: true, record: { offset, sizeBytes: end - offset, sequence, payload: payload as RecordPayload } };
}
