/**
 * Reading a manifest at open: which generation is authoritative, and the record chain
 * of its two copies merged record by record.
 *
 * Why a per-record merge is sound (see docs/FORMAT.md, "Manifest", for the protocol):
 * - The two copies hold identical bytes at identical offsets; each edit is appended
 *   and datasynced to copy a, then appended and datasynced to copy b. An edit is
 *   acknowledged only after both datasyncs, so an acknowledged record is in both.
 * - A crash tears at most the last record of one copy, and then the other copy either
 *   holds it whole (a was synced, b was being written) or ends before it (a was being
 *   written, b not yet). So: a record valid in either copy is taken; a record invalid
 *   in one copy where the other copy ends is an unacknowledged torn tail and dropped;
 *   a record invalid in both copies (both have bytes there) is corruption.
 * - Generations: a full rewrite writes generation g+1 completely (both copies synced
 *   under temporary names, renamed, directory synced) before anything is appended to
 *   it or generation g is deleted. So the highest generation with both copies present
 *   is authoritative; a higher generation with one copy is an unfinished rewrite.
 * - A record whose checksum is valid but whose kind or format version this code does not
 *   read was written whole by a newer release: in either copy, the manifest is refused
 *   (UnsupportedFormatError), never merged, dropped as a torn tail or rewritten.
 *
 * Invariants: the merge loop advances by at least one frame per iteration and is
 * bounded by the longer copy's size; nothing here writes.
 */
import type { Buffer } from 'node:buffer';
import { CorruptionError, UnsupportedFormatError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import {
  COPY_NAMES,
  copyFileName,
  decodeRecordAt,
  parseManifestFileName,
  RECORD_FRAME_BYTES,
  SUPPORTED_MANIFEST_FORMATS,
  type CopyName,
  type DecodedRecord,
  type RecordRead,
} from './manifest-format.js';
import { applyEdit, copyState, type ManifestState } from './manifest-state.js';

export interface GenerationChoice {
  /** The authoritative generation and the copies of it that exist; undefined when there is none. */
  chosen: { generation: number; copies: CopyName[] } | undefined;
  /** Every other manifest-named entry (temporary files, older and unfinished generations). */
  orphans: string[];
  /** The highest generation named by any entry, temporary ones included (0 if none). */
  highestGeneration: number;
}

/** Picks the highest generation with both copies, else the highest with one. */
export function chooseGeneration(names: readonly string[]): GenerationChoice {
  const copiesByGeneration = new Map<number, CopyName[]>();
  let highestGeneration = 0;
  for (const name of names) {
    const parsed = parseManifestFileName(name);
    if (parsed === undefined) continue;
    highestGeneration = Math.max(highestGeneration, parsed.generation);
    if (parsed.temporary) continue;
    const copies = copiesByGeneration.get(parsed.generation) ?? [];
    copies.push(parsed.copy);
    copiesByGeneration.set(parsed.generation, copies);
  }
  const generations = [...copiesByGeneration.keys()].sort((left, right) => right - left);
  const complete = generations.find((generation) => copiesByGeneration.get(generation)?.length === COPY_NAMES.length);
  const generation = complete ?? generations[0];
  const chosen = generation === undefined ? undefined : { generation, copies: copiesByGeneration.get(generation) ?? [] };
  const keep = new Set(chosen === undefined ? [] : chosen.copies.map((copy) => copyFileName(chosen.generation, copy)));
  const orphans = names.filter((name) => parseManifestFileName(name) !== undefined && !keep.has(name));
  return { chosen, orphans, highestGeneration };
}

/** One copy's bytes, or undefined when the copy's file does not exist. */
export interface CopyImage {
  copy: CopyName;
  path: string;
  bytes: Buffer | undefined;
  /** Why `bytes` is undefined when the copy exists but could not be read (EIO). */
  unreadable?: string;
}

export interface MergedChain {
  records: DecodedRecord[];
  /** Where the merged chain ends (where the next record goes once both copies are whole). */
  endOffset: number;
  /**
   * Human-readable findings that need a rewrite to restore redundancy, one line each,
   * saying what the copies hold (verify and scrub list them without writing; an open
   * lists them under recovery.manifest.repaired once it has rewritten the copies).
   */
  repaired: string[];
  /** Copies that were missing, damaged, shorter or longer than the merged chain. */
  damagedCopies: Set<CopyName>;
  truncatedTail: boolean;
  /**
   * Damage no crash explains (a subset of `repaired`): a copy whose read failed (EIO),
   * or a copy invalid or missing at its full-state record or at a record the chain goes
   * on past. A crash tears only the last appended edit of one copy (see the module
   * header; a full-state record is renamed into place whole), so a copy bad elsewhere
   * was damaged at rest: verify reports it (`ladybug verify` exits 1), as it does a run
   * block that parity would rebuild, although an open rewrites it from its twin.
   */
  unexplained: string[];
}

function bytesEqual(image: Buffer, other: Buffer, record: DecodedRecord): boolean {
  const end = record.offset + record.sizeBytes;
  return image.subarray(record.offset, end).equals(other.subarray(record.offset, end));
}

/** Merges the copies record by record (see the module header); throws CorruptionError. */
export function mergeCopies(images: readonly CopyImage[], hash: Hash64): MergedChain {
  const present = images.filter((image) => image.bytes !== undefined);
  assert(present.length >= 1, 'at least one manifest copy exists');
  const merged: MergedChain = { records: [], endOffset: 0, repaired: [], damagedCopies: new Set(), truncatedTail: false, unexplained: [] };
  for (const image of images) {
    if (image.bytes === undefined) {
      merged.damagedCopies.add(image.copy);
      merged.repaired.push(image.unreadable === undefined ? `copy ${image.path} was missing` : `copy ${image.path} was unreadable (${image.unreadable})`);
      if (image.unreadable !== undefined) merged.unexplained.push(`copy ${image.path} was unreadable (${image.unreadable})`);
    }
  }
  /** Records one copy did not hold validly (taken from the other): index in the chain and what was found. */
  const badRecords: Array<{ index: number; finding: string }> = [];
  const longestBytes = Math.max(...present.map((image) => image.bytes?.length ?? 0));
  const iterationsMax = Math.floor(longestBytes / RECORD_FRAME_BYTES) + 1;
  let offset = 0;
  for (let iteration = 0; iteration <= iterationsMax; iteration += 1) {
    const reads = readsAt(present, offset, hash);
    refuseNewerRecord(reads, offset);
    const valid = reads.find((entry) => entry.read.ok);
    if (valid === undefined || !valid.read.ok) {
      finishChain(merged, reads, offset);
      merged.endOffset = offset;
      // Only the last record, when it is an edit, may be an append a crash cut short in one
      // copy: the full-state record is written whole under a temporary name and renamed.
      for (const { index, finding } of badRecords) if (index === 0 || index < merged.records.length - 1) merged.unexplained.push(finding);
      return merged;
    }
    const record = valid.read.record;
    for (const { image, read } of reads) {
      if (read.ok && !bytesEqual(image.bytes as Buffer, valid.image.bytes as Buffer, record)) {
        throw new CorruptionError(image.path, offset, 'the two manifest copies hold different valid records');
      }
      if (!read.ok) {
        merged.damagedCopies.add(image.copy);
        const finding = `copy ${image.path}: record at offset ${offset} damaged (${read.reason}), whole in the other copy`;
        merged.repaired.push(finding);
        badRecords.push({ index: merged.records.length, finding });
      }
    }
    merged.records.push(record);
    offset += record.sizeBytes;
  }
  throw new CorruptionError(images[0]?.path ?? '', offset, 'manifest merge did not terminate');
}

/**
 * A record whole in a copy (checksum valid) but of a kind or format version this code does
 * not read was written by a newer release: neither a torn tail to drop nor damage to repair
 * from the other copy. The manifest is refused as it is (UnsupportedFormatError), whatever
 * the other copy holds there, before anything is written.
 */
function refuseNewerRecord(reads: ReadonlyArray<{ image: CopyImage; read: RecordRead }>, offset: number): void {
  for (const { image, read } of reads) {
    if (!read.ok && read.newer !== undefined) throw new UnsupportedFormatError(image.path, offset, read.newer, SUPPORTED_MANIFEST_FORMATS);
  }
}

/**
 * Each copy's read of the record at `offset`. A copy whose bytes over the first copy's
 * valid record are the same bytes reads the same record (decodeRecordAt reads nothing
 * else), so it shares that read instead of decoding it again: after a clean close the
 * copies are identical, and the decode (checksum, msgpack, field checks) runs once per
 * record at reopen, in cold code, not twice (issue 7).
 */
function readsAt(present: readonly CopyImage[], offset: number, hash: Hash64): Array<{ image: CopyImage; read: RecordRead }> {
  const reads: Array<{ image: CopyImage; read: RecordRead }> = [];
  let first: { image: CopyImage; record: DecodedRecord } | undefined;
  for (const image of present) {
    const bytes = image.bytes as Buffer;
    const read = first !== undefined && sameRecordBytes(bytes, first.image.bytes as Buffer, first.record)
      ? { ok: true as const, record: first.record }
      : decodeRecordAt(bytes, offset, hash);
    if (first === undefined && read.ok) first = { image, record: read.record };
    reads.push({ image, read });
  }
  return reads;
}

/** True when `image` holds `record`'s whole extent, byte for byte as `other` does. */
function sameRecordBytes(image: Buffer, other: Buffer, record: DecodedRecord): boolean {
  return record.offset + record.sizeBytes <= image.length && bytesEqual(image, other, record);
}

/** No copy has a valid record at `offset`: a clean end, a torn tail, or corruption. */
function finishChain(
  merged: MergedChain,
  reads: ReadonlyArray<{ image: CopyImage; read: ReturnType<typeof decodeRecordAt> }>,
  offset: number,
): void {
  const withBytes = reads.filter(({ read }) => !read.ok && !read.absent);
  if (withBytes.length === 0) return;
  if (withBytes.length < reads.length) {
    // One copy has bytes here, the other ends here, and neither holds a valid record:
    // the append in flight at a crash, never acknowledged. (A lone surviving copy
    // cannot tell a torn tail from damage; it falls through to corruption.)
    for (const { image, read } of withBytes) {
      merged.damagedCopies.add(image.copy);
      merged.truncatedTail = true;
      merged.repaired.push(`copy ${image.path}: torn record at offset ${offset} (${read.ok ? '' : read.reason}), an append a crash cut short: not read`);
    }
    return;
  }
  const reasons = withBytes.map(({ image, read }) => `${image.copy}: ${read.ok ? '' : read.reason}`).join('; ');
  const first = withBytes[0];
  assert(first !== undefined, 'a copy with bytes exists');
  throw new CorruptionError(first.image.path, offset, `manifest record damaged in both copies (${reasons})`);
}

/** Replays a merged chain into the state it describes; throws CorruptionError. */
export function replayChain(records: readonly DecodedRecord[], generation: number, path: string): ManifestState {
  const first = records[0];
  if (first === undefined || first.payload.kind !== 'state') {
    throw new CorruptionError(path, 0, 'the manifest does not start with a valid full-state record');
  }
  if (first.payload.generation !== generation) {
    throw new CorruptionError(path, 0, `full-state record names generation ${first.payload.generation}, file ${generation}`);
  }
  let state = copyState(first.payload.state);
  for (const [index, record] of records.entries()) {
    if (record.sequence !== first.sequence + index) {
      throw new CorruptionError(path, record.offset, `sequence ${record.sequence}, expected ${first.sequence + index}`);
    }
    if (index === 0) continue;
    if (record.payload.kind !== 'edit') throw new CorruptionError(path, record.offset, 'a full-state record inside the chain');
    const next = applyEdit(state, record.payload.edit);
    if (typeof next === 'string') throw new CorruptionError(path, record.offset, `edit does not apply: ${next}`);
    state = next;
  }
  return state;
}
