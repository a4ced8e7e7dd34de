/**
 * A decoder of a store directory written only from docs/FORMAT.md, independent of src/:
 * the directory layout, WAL segments (header, records, commits, operations), the lock
 * file, the manifest's two copies (frames, payloads, the chain of edits), run files
 * (test/format-review-run-decoder.ts) and a backup's BACKUP.json. It returns what the
 * files hold and a list of every place where the bytes disagree with the text.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { type Problems, xxh64 } from './format-review-hash.js';
import { decodeRun, type DecodedEntry, type DecodedRun, type RunDescriptorShape, u64 } from './format-review-run-decoder.js';

export const unpackr = new Unpackr({ useRecords: false, moreTypes: true });
const allZero = (bytes: Buffer) => bytes.every((byte) => byte === 0);

export interface WalCommit { version: number; operations: DecodedEntry[] }
export interface DecodedSegment { number: number; format: number; size: number; commits: WalCommit[]; recycledTail: boolean; recordCommits: number[] }

function useTag(format: number, segment: number): number {
  return format === 1 ? 0 : 1 + ((segment - 1) % (2 ** 32 - 1));
}

function recordAt(bytes: Buffer, at: number): { sum: bigint; magic: number; length: number; first: number; commits: number; tag: number; valid: boolean } | undefined {
  if (at + 32 > bytes.length) return undefined;
  const length = bytes.readUInt32LE(at + 12);
  const end = at + 32 + length;
  const sum = bytes.readBigUInt64LE(at);
  const valid = end <= bytes.length && xxh64(bytes.subarray(at + 8, end)) === sum;
  return { sum, magic: bytes.readUInt32LE(at + 8), length, first: bytes.readUInt32LE(at + 16) + bytes.readUInt32LE(at + 20) * 2 ** 32, commits: bytes.readUInt32LE(at + 24), tag: bytes.readUInt32LE(at + 28), valid };
}

export function decodeWalSegment(name: string, bytes: Buffer, problems: Problems, lastVersion: { value: number }): DecodedSegment | undefined {
  const match = /^(wal|recycled)-(\d{10})(?:-(\d+))?\.log$/.exec(name);
  if (!match) { problems.push(`wal/${name}: not a documented name`); return undefined; }
  const pool = match[1] === 'recycled';
  const where = `wal/${name}`;
  if (bytes.length < 64) { problems.push(`${where}: shorter than the header`); return undefined; }
  if (!bytes.subarray(0, 8).equals(Buffer.from('LBUGWAL\0', 'latin1'))) problems.push(`${where}: magic`);
  const format = bytes.readUInt32LE(8);
  if (format !== 1 && format !== 2) problems.push(`${where}: format ${format}`);
  if (bytes.readUInt32LE(12) !== 64) problems.push(`${where}: header size ${bytes.readUInt32LE(12)}`);
  const number = u64(bytes, 16, problems, where), size = u64(bytes, 24, problems, where);
  if (number !== Number(match[2])) problems.push(`${where}: header number ${number}`);
  if (size !== bytes.length) problems.push(`${where}: header size ${size}, file ${bytes.length}`);
  if (pool && Number(match[3]) !== bytes.length) problems.push(`${where}: pool name's size differs from the file's`);
  if (!allZero(bytes.subarray(32, 56))) problems.push(`${where}: reserved header bytes not zero`);
  if (xxh64(bytes.subarray(0, 56)) !== bytes.readBigUInt64LE(56)) problems.push(`${where}: header checksum`);
  const tag = useTag(format, number);
  const commits: WalCommit[] = [];
  const recordCommits: number[] = [];
  let at = 64;
  let recycledTail = false;
  for (;;) {
    const record = recordAt(bytes, at);
    if (record === undefined) break;
    if (allZero(bytes.subarray(at, at + 32))) break;
    if (format === 2 && record.valid && record.tag !== tag) {
      recycledTail = true;
      if (at > 64 && at + 32 <= bytes.length) problems.push(`${where}: the last record is followed by an earlier use's record at ${at}, not by 32 zero bytes`);
      break;
    }
    if (pool) { recycledTail = true; break; } // a pool file's records are never replayed
    if (!record.valid) { problems.push(`${where}: record at ${at} fails its checksum (a clean store has no torn tail)`); return { number, format, size, commits, recycledTail, recordCommits }; }
    if (record.magic !== 0x5257424c) problems.push(`${where}: record magic at ${at}`);
    if (record.tag !== tag) problems.push(`${where}: record use tag ${record.tag}, expected ${tag}`);
    if (record.commits < 1) problems.push(`${where}: record at ${at} with no commit`);
    const payload = bytes.subarray(at + 32, at + 32 + record.length);
    recordCommits.push(record.commits);
    let p = 0;
    for (let c = 0; c < record.commits; c++) {
      const version = record.first + payload.readUInt32LE(p);
      const count = payload.readUInt32LE(p + 4); p += 8;
      if (c === 0 && version !== record.first) problems.push(`${where}: first commit's delta is not 0`);
      if (version <= lastVersion.value) problems.push(`${where}: version ${version} after ${lastVersion.value}`);
      lastVersion.value = version;
      const operations: DecodedEntry[] = [];
      const seen = new Set<string>();
      for (let o = 0; o < count; o++) {
        const type = payload.readUInt8(p), keyLength = payload.readUInt16LE(p + 1); p += 3;
        if (keyLength < 1 || keyLength > 1024) problems.push(`${where}: key length ${keyLength}`);
        const key = Buffer.from(payload.subarray(p, p + keyLength)); p += keyLength;
        if (seen.has(key.toString('latin1'))) problems.push(`${where}: commit ${version} names a key twice`);
        seen.add(key.toString('latin1'));
        if (type === 1) {
          const valueLength = payload.readUInt32LE(p); p += 4;
          operations.push({ key, version, kind: 'put', value: Buffer.from(payload.subarray(p, p + valueLength)) }); p += valueLength;
        } else if (type === 2) operations.push({ key, version, kind: 'delete' });
        else { problems.push(`${where}: operation type ${type}`); return { number, format, size, commits, recycledTail, recordCommits }; }
      }
      commits.push({ version, operations });
    }
    if (p !== payload.length) problems.push(`${where}: record at ${at}: commits end at ${p}, payload ${payload.length}`);
    at += 32 + record.length;
  }
  if (!recycledTail && !allZero(bytes.subarray(at))) recycledTail = true;
  if (recycledTail && format !== 2) problems.push(`${where}: non-zero bytes after the records of a format-${format} segment`);
  return { number, format, size, commits, recycledTail, recordCommits };
}

const LOCK_FIELDS = ['formatVersion', 'pid', 'host', 'pidNamespace', 'processStart', 'token', 'acquiredAt', 'heartbeatAt', 'released'];
/** Recorded where the holder's thread is known (/proc/thread-self). */
const LOCK_OPTIONAL = ['threadId', 'threadStart'];

export function decodeLock(name: string, text: string, problems: Problems): Record<string, unknown> {
  if (!/^LOCK\.\d{12}$/.test(name)) problems.push(`${name}: not a documented lock name`);
  const body = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(body);
  if (keys.some((key) => !LOCK_FIELDS.includes(key) && !LOCK_OPTIONAL.includes(key)) || LOCK_FIELDS.some((key) => !keys.includes(key))) problems.push(`${name}: fields ${keys.join(',')}`);
  if (LOCK_OPTIONAL.some((key) => body[key] !== undefined && !Number.isSafeInteger(body[key]))) problems.push(`${name}: thread fields ${text}`);
  if (body.formatVersion !== 2 || typeof body.pid !== 'number' || typeof body.host !== 'string' || typeof body.pidNamespace !== 'string'
    || typeof body.processStart !== 'number' || !/^[0-9a-f]{24}$/.test(String(body.token)) || typeof body.released !== 'boolean'
    || Number.isNaN(Date.parse(String(body.acquiredAt))) || Number.isNaN(Date.parse(String(body.heartbeatAt)))) problems.push(`${name}: field types ${text}`);
  return body;
}

export interface ManifestState {
  runs: RunDescriptorShape[]; nextRunId: number; flushedVersion: number; walStartSegment: number; versionHighWater: number;
  versionTimes?: Array<[number, number]>; retentionFloor?: number; reservedEntryCounts?: boolean;
}
export interface DecodedManifest { generation: number; formatVersion: number; state: ManifestState; records: number; firstSequence: number }

const STATE_KEYS = ['runs', 'nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater'];
const STATE_OPTIONAL = ['versionTimes', 'retentionFloor', 'reservedEntryCounts'];
const EDIT_KEYS = ['nextRunId', 'removeRunIds', 'addRuns', 'flushedVersion', 'walStartSegment', 'versionHighWater', 'versionTimes', 'retentionFloor'];
const DESCRIPTOR_KEYS = ['runId', 'generation', 'level', 'fileName', 'fileBytes', 'entryCount', 'keyCount', 'minVersion', 'maxVersion', 'smallestKey', 'largestKey', 'footerChecksum'];

function checkKeys(map: Record<string, unknown>, required: string[], optional: string[], where: string, problems: Problems): void {
  for (const key of Object.keys(map)) if (!required.includes(key) && !optional.includes(key)) problems.push(`${where}: undocumented key ${key}`);
  for (const key of required) if (!(key in map)) problems.push(`${where}: missing ${key}`);
}

function checkDescriptor(run: RunDescriptorShape, where: string, problems: Problems): void {
  checkKeys(run as unknown as Record<string, unknown>, DESCRIPTOR_KEYS, ['reservedEntryCount'], where, problems);
  if (!/^[0-9a-f]{16}$/.test(run.footerChecksum) || run.minVersion > run.maxVersion) problems.push(`${where}: descriptor values`);
  if (run.reservedEntryCount !== undefined && run.reservedEntryCount > run.entryCount) problems.push(`${where}: reservedEntryCount above entryCount`);
}

/** The authoritative generation's two copies: identical, one full state then edits, applied. */
export function decodeManifest(directory: string, problems: Problems): DecodedManifest | undefined {
  const names = readdirSync(join(directory, 'manifest')).sort();
  for (const name of names) if (!/^MANIFEST-\d{10}\.[ab]$/.test(name)) problems.push(`manifest/${name}: not a documented name`);
  const generations = [...new Set(names.map((name) => name.slice(9, 19)))];
  if (generations.length !== 1) problems.push(`manifest/: generations ${generations.join(',')} after a clean close`);
  const generation = Number(generations.at(-1));
  const a = readFileSync(join(directory, 'manifest', `MANIFEST-${generations.at(-1)}.a`));
  const b = readFileSync(join(directory, 'manifest', `MANIFEST-${generations.at(-1)}.b`));
  if (!a.equals(b)) problems.push('manifest: copies a and b differ');
  let at = 0, sequence = -1, records = 0, formatVersion = 0, firstSequence = -1;
  let state: ManifestState | undefined;
  while (at < a.length) {
    const where = `manifest copy a record at ${at}`;
    if (a.readUInt32LE(at) !== 0x524d424c) { problems.push(`${where}: magic`); return undefined; }
    const length = a.readUInt32LE(at + 4);
    const seq = u64(a, at + 8, problems, where);
    const payload = a.subarray(at + 24, at + 24 + length);
    if (xxh64(Buffer.concat([a.subarray(at, at + 16), payload])) !== a.readBigUInt64LE(at + 16)) problems.push(`${where}: checksum`);
    if (sequence >= 0 && seq !== sequence + 1) problems.push(`${where}: sequence ${seq} after ${sequence}`);
    sequence = seq;
    if (firstSequence === -1) firstSequence = seq;
    const record = unpackr.unpack(payload) as Record<string, unknown>;
    if (records === 0) {
      checkKeys(record, ['kind', 'formatVersion', 'generation', 'state'], [], where, problems);
      if (record.kind !== 'state' || record.generation !== generation) problems.push(`${where}: first record kind ${String(record.kind)}, generation ${String(record.generation)}`);
      state = record.state as ManifestState;
      checkKeys(state as unknown as Record<string, unknown>, STATE_KEYS, STATE_OPTIONAL, `${where} state`, problems);
      formatVersion = record.formatVersion as number;
      const expected = state.reservedEntryCounts === true || state.runs.some((run) => run.reservedEntryCount !== undefined) ? 3 : (state.retentionFloor ?? 0) > 0 ? 2 : 1;
      if (formatVersion !== expected) problems.push(`${where}: formatVersion ${formatVersion}, the state calls for ${expected}`);
      state.runs.forEach((run, i) => checkDescriptor(run, `${where} run ${i}`, problems));
    } else {
      checkKeys(record, ['kind', 'edit'], [], where, problems);
      const edit = record.edit as Record<string, unknown> & { removeRunIds?: number[]; addRuns?: RunDescriptorShape[] };
      if (record.kind !== 'edit') problems.push(`${where}: kind ${String(record.kind)}`);
      checkKeys(edit, ['nextRunId'], EDIT_KEYS, `${where} edit`, problems);
      const s = state!;
      for (const id of edit.removeRunIds ?? []) {
        if (!s.runs.some((run) => run.runId === id)) problems.push(`${where}: removes run ${id}, not live`);
        s.runs = s.runs.filter((run) => run.runId !== id);
      }
      for (const run of edit.addRuns ?? []) { checkDescriptor(run, `${where} added run`, problems); s.runs.push(run); }
      for (const key of ['nextRunId', 'flushedVersion', 'walStartSegment', 'versionHighWater'] as const) {
        const next = edit[key] as number | undefined;
        if (next !== undefined && next < s[key]) problems.push(`${where}: ${key} decreases`);
        if (next !== undefined) s[key] = next;
      }
      if (edit.versionTimes !== undefined) s.versionTimes = edit.versionTimes as Array<[number, number]>;
      if (edit.retentionFloor !== undefined) s.retentionFloor = edit.retentionFloor as number;
    }
    records++;
    at += 24 + length;
  }
  if (state === undefined) { problems.push('manifest: no full-state record'); return undefined; }
  for (const run of state.runs) if (run.runId >= state.nextRunId) problems.push(`manifest: run id ${run.runId} not below nextRunId`);
  return { generation, formatVersion, state, records, firstSequence };
}

export interface DecodedStore { manifest: DecodedManifest; runs: DecodedRun[]; segments: DecodedSegment[]; lock?: Record<string, unknown> }

/** Every file of a store (or a backup) directory; names outside FORMAT.md's layout are problems. */
export function decodeStoreDirectory(directory: string, problems: Problems, backup = false): DecodedStore | undefined {
  for (const name of readdirSync(directory)) {
    const documented = ['wal', 'runs', 'manifest'].includes(name) || (backup ? name === 'BACKUP.json' : /^LOCK\.\d{12}$/.test(name));
    if (!documented) problems.push(`${name}: not in the directory layout`);
  }
  const lockName = readdirSync(directory).filter((name) => name.startsWith('LOCK.')).sort().at(-1);
  const lock = lockName === undefined ? undefined : decodeLock(lockName, readFileSync(join(directory, lockName), 'utf8'), problems);
  const manifest = decodeManifest(directory, problems);
  if (manifest === undefined) return undefined;
  const runNames = readdirSync(join(directory, 'runs')).sort();
  const listed = manifest.state.runs.map((run) => run.fileName).sort();
  if (JSON.stringify(runNames) !== JSON.stringify(listed)) problems.push(`runs/: ${runNames.join(',')}, the manifest lists ${listed.join(',')}`);
  const runs = manifest.state.runs.map((descriptor) => decodeRun(readFileSync(join(directory, 'runs', descriptor.fileName)), descriptor, problems));
  const segments: DecodedSegment[] = [];
  const lastVersion = { value: 0 };
  const walNames = backup && !existsSync(join(directory, 'wal')) ? [] : readdirSync(join(directory, 'wal')).sort(); // a backup may lack its empty wal/
  for (const name of walNames) {
    const bytes = readFileSync(join(directory, 'wal', name));
    if (statSync(join(directory, 'wal', name)).size !== bytes.length) problems.push(`wal/${name}: size`);
    const pool = name.startsWith('recycled');
    const segment = decodeWalSegment(name, bytes, problems, pool ? { value: 0 } : lastVersion);
    if (segment && !pool) {
      segments.push(segment);
      if (segment.number < manifest.state.walStartSegment) problems.push(`wal/${name}: below the manifest's WAL start ${manifest.state.walStartSegment}`);
    }
  }
  segments.forEach((segment, i) => { if (i > 0 && segment.number !== segments[i - 1]!.number + 1) problems.push(`wal: segment ${segment.number} after ${segments[i - 1]!.number}`); });
  if (segments.length > 0 && segments[0]!.number !== manifest.state.walStartSegment) problems.push(`wal: first segment ${segments[0]!.number}, manifest starts at ${manifest.state.walStartSegment}`);
  return { manifest, runs, segments, ...(lock ? { lock } : {}) };
}

/** BACKUP.json: body, its checksum, and each file's checksum of 1 MiB chunks. */
export function decodeBackupJson(directory: string, problems: Problems): { version: number; files: Array<{ path: string }> } {
  const text = readFileSync(join(directory, 'BACKUP.json'), 'utf8');
  const outer = JSON.parse(text) as { body: Record<string, unknown>; checksum: string };
  checkKeys(outer as unknown as Record<string, unknown>, ['body', 'checksum'], [], 'BACKUP.json', problems);
  if (xxh64(Buffer.from(JSON.stringify(outer.body), 'utf8')).toString(16).padStart(16, '0') !== outer.checksum) problems.push('BACKUP.json: checksum');
  const body = outer.body as { format: string; formatVersion: number; version: number; createdAt: string; files: Array<{ path: string; sizeBytes: number; checksum: string }> };
  checkKeys(body, ['format', 'formatVersion', 'version', 'createdAt', 'files'], [], 'BACKUP.json body', problems);
  if (body.format !== 'ladybug-backup' || body.formatVersion !== 1 || Number.isNaN(Date.parse(body.createdAt))) problems.push('BACKUP.json: format fields');
  for (const file of body.files) {
    checkKeys(file, ['path', 'sizeBytes', 'checksum'], [], `BACKUP.json ${file.path}`, problems);
    if (!/^(manifest|runs)\/[^/]+$/.test(file.path)) problems.push(`BACKUP.json: path ${file.path}`);
    const bytes = readFileSync(join(directory, file.path));
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length || at === 0; at += 1 << 20) {
      const sum = Buffer.alloc(8); sum.writeBigUInt64LE(xxh64(bytes.subarray(at, at + (1 << 20)))); chunks.push(sum);
      if (bytes.length === 0) break;
    }
    if (bytes.length !== file.sizeBytes || xxh64(Buffer.concat(chunks)).toString(16).padStart(16, '0') !== file.checksum) problems.push(`BACKUP.json: ${file.path} size or checksum`);
  }
  return body;
}
