/**
 * A store a newer release wrote (a rollback after an upgrade): a WAL segment, a manifest
 * record or a run footer of a format version this release does not read, written as
 * that release would write it (every checksum valid). Open, open({ repair: true }) and
 * verifyStore must refuse it with UnsupportedFormatError (LADYBUG_UNSUPPORTED_FORMAT,
 * naming the file, what it holds and what this release reads), and leave every file of
 * the store as it was: nothing removed as an unfinished creation or a torn tail, nothing
 * dropped by repair, nothing rewritten.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr/pack';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { ErrorCode, UnsupportedFormatError } from '../src/errors.js';
import { openStore } from '../src/store/open-store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { decodeRecordAt, stateFormatVersion } from '../src/manifest/manifest-format.js';
import { replayChain } from '../src/manifest/manifest-reader.js';
import { blockChecksum, BlockKind, checksumHex, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { encodeSegmentHeader, writeUint64 } from '../src/wal/wal-format.js';

const hash = await loadHash64();
const directories: string[] = [];

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** Every file's name, size and content hash (the lock files aside: taking the lock writes them). */
export function snapshotOf(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(directory, relative)).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      if (/^LOCK\./.test(path)) continue;
      const stat = statSync(join(directory, path));
      if (stat.isDirectory()) {
        files[`${path}/`] = 'directory';
        walk(path);
      } else {
        files[path] = `${stat.size} ${createHash('sha256').update(readFileSync(join(directory, path))).digest('hex')}`;
      }
    }
  };
  walk('');
  return files;
}

/** A store with two runs and commits in two WAL segments after them (closed without a checkpoint). */
async function storeWithRunsAndWal(): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-future-review-'));
  directories.push(directory);
  const options = { segmentSizeBytes: 16 * 1024 };
  const store = await openStore(directory, options);
  for (let index = 0; index < 30; index++) await store.put(`k${index}`, 'v'.repeat(500));
  await store.checkpoint();
  for (let index = 0; index < 30; index++) await store.put(`j${index}`, 'w'.repeat(500));
  await store.close();
  const again = await openStore(directory, { ...options, checkpointOnClose: false });
  for (let index = 0; index < 40; index++) await again.put(`m${index}`, 'x'.repeat(500));
  await again.close();
  return directory;
}

function segmentNames(directory: string): string[] {
  return readdirSync(join(directory, 'wal')).filter((name) => /^wal-\d{10}\.log$/.test(name)).sort();
}

/** Rewrites a segment's header as a newer release writing format `version` would (its checksum valid). */
function setSegmentVersion(path: string, version: number): void {
  const bytes = readFileSync(path);
  bytes.writeUInt32LE(version, 8);
  bytes.writeBigUInt64LE(hash(bytes.subarray(0, 56)), 56);
  writeFileSync(path, bytes);
}

const packer = new Packr({ useRecords: false, moreTypes: true });

/** A manifest record frame around `payload` (docs/FORMAT.md, "Record frame"), its checksum valid. */
function manifestRecord(sequence: number, payload: unknown): Buffer {
  const body = packer.pack(payload);
  const record = Buffer.alloc(24 + body.length);
  record.writeUInt32LE(0x524d424c, 0);
  record.writeUInt32LE(body.length, 4);
  writeUint64(record, sequence, 8);
  body.copy(record, 24);
  record.writeBigUInt64LE(hash(Buffer.concat([record.subarray(0, 16), record.subarray(24)])), 16);
  return record;
}

function manifestCopies(directory: string): [string, string] {
  const names = readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d{10}\.[ab]$/.test(name)).sort();
  expect(names).toHaveLength(2);
  return [join(directory, 'manifest', names[0]!), join(directory, 'manifest', names[1]!)];
}

/** The records of a manifest copy, in order. */
function manifestRecords(path: string): { bytes: Buffer; records: Array<{ offset: number; sizeBytes: number; sequence: number; payload: Record<string, unknown> }> } {
  const bytes = readFileSync(path);
  const records = [];
  for (let offset = 0; offset < bytes.length;) {
    const read = decodeRecordAt(bytes, offset, hash);
    if (!read.ok) throw new Error(read.reason);
    records.push({ ...read.record, payload: read.record.payload as unknown as Record<string, unknown> });
    offset += read.record.sizeBytes;
  }
  return { bytes, records };
}

/** Opens (plain and with repair) and verifies: each must refuse with UnsupportedFormatError naming `file`, and change nothing. */
async function expectRefusedUnchanged(directory: string, file: string, found: RegExp): Promise<void> {
  const before = snapshotOf(directory);
  for (const options of [{}, { repair: true }]) {
    const opened = await openStore(directory, options).then(async (store) => {
      await store.close();
      return 'opened';
    }, (error: unknown) => error);
    expect(opened, `open ${JSON.stringify(options)}`).toBeInstanceOf(UnsupportedFormatError);
    const error = opened as UnsupportedFormatError;
    expect(error.code).toBe(ErrorCode.UnsupportedFormat);
    expect(error.file).toBe(file);
    expect(error.found).toMatch(found);
    expect(error.message).toContain(file);
    expect(snapshotOf(directory), `files after open ${JSON.stringify(options)}`).toEqual(before);
  }
  const report = await verifyStore(directory);
  expect(report.ok).toBe(false);
  expect(report.corruption?.file ?? report.runs.problems[0]?.file).toBe(file);
  expect(report.walRepairWouldDrop).toBeUndefined();
  expect(snapshotOf(directory), 'files after verify').toEqual(before);
}

describe('a WAL segment of a newer format version (checksum valid)', () => {
  it('the last segment holding records: refused, not dropped by repair', async () => {
    const directory = await storeWithRunsAndWal();
    const last = join(directory, 'wal', segmentNames(directory).at(-1)!);
    setSegmentVersion(last, 3);
    await expectRefusedUnchanged(directory, last, /WAL segment format version 3/);
  });

  it('a segment with a later one after it: refused, not dropped by repair', async () => {
    const directory = await storeWithRunsAndWal();
    const names = segmentNames(directory);
    expect(names.length).toBeGreaterThanOrEqual(2);
    const middle = join(directory, 'wal', names[0]!);
    setSegmentVersion(middle, 3);
    await expectRefusedUnchanged(directory, middle, /WAL segment format version 3/);
  });

  it('a new last segment with no record of this format: refused, not removed as an unfinished creation', async () => {
    const directory = await storeWithRunsAndWal();
    const number = Number(/\d{10}/.exec(segmentNames(directory).at(-1)!)![0]) + 1;
    const path = join(directory, 'wal', `wal-${String(number).padStart(10, '0')}.log`);
    const bytes = Buffer.alloc(64 * 1024);
    encodeSegmentHeader({ formatVersion: 3, segmentNumber: number, segmentSizeBytes: bytes.length }, hash).copy(bytes);
    writeFileSync(path, bytes);
    await expectRefusedUnchanged(directory, path, /WAL segment format version 3/);
  });
});

describe('a manifest of a newer format (checksum valid)', () => {
  it('a full-state record of format version 4: refused', async () => {
    const directory = await storeWithRunsAndWal();
    const [copyA, copyB] = manifestCopies(directory);
    const { bytes, records } = manifestRecords(copyA);
    const first = records[0]!;
    const rewritten = Buffer.concat([manifestRecord(first.sequence, { ...first.payload, formatVersion: 4 }), bytes.subarray(first.sizeBytes)]);
    writeFileSync(copyA, rewritten);
    writeFileSync(copyB, rewritten);
    await expectRefusedUnchanged(directory, copyA, /manifest format version 4/);
  });

  for (const where of ['both copies', 'copy a only (copy b ends before it)'] as const) {
    it(`a record of a kind this release does not know, appended to ${where}: refused, not dropped as a torn tail`, async () => {
      const directory = await storeWithRunsAndWal();
      const [copyA, copyB] = manifestCopies(directory);
      const { bytes, records } = manifestRecords(copyA);
      const appended = Buffer.concat([bytes, manifestRecord(records.at(-1)!.sequence + 1, { kind: 'snapshot-pin', pin: { version: 3 } })]);
      writeFileSync(copyA, appended);
      if (where === 'both copies') writeFileSync(copyB, appended);
      await expectRefusedUnchanged(directory, copyA, /manifest record kind "snapshot-pin"/);
    });
  }
});

describe('a manifest record with a field this release does not know (checksum valid)', () => {
  for (const [name, payload] of [
    ['an edit', (state: Record<string, unknown>, _generation: number) => ({ kind: 'edit', edit: { nextRunId: state.nextRunId, pinnedVersions: [3] } })],
    ['a full-state record', (state: Record<string, unknown>, generation: number) => ({ kind: 'state', formatVersion: 3, generation, state: { ...state, pinnedVersions: [3] } })],
  ] as const) {
    it(`${name}: refused, not read without the field (and the field lost at the next rewrite)`, async () => {
      const directory = await storeWithRunsAndWal();
      const [copyA, copyB] = manifestCopies(directory);
      const { bytes, records } = manifestRecords(copyA);
      const generation = Number(/MANIFEST-(\d{10})/.exec(copyA)![1]);
      const state = replayChain(records as never, generation, copyA) as unknown as Record<string, unknown>;
      const written = name === 'an edit'
        ? Buffer.concat([bytes, manifestRecord(records.at(-1)!.sequence + 1, payload(state, generation))])
        : manifestRecord(records.at(-1)!.sequence, payload(state, generation));
      writeFileSync(copyA, written);
      writeFileSync(copyB, written);
      await expectRefusedUnchanged(directory, copyA, /manifest (edit|state) field "pinnedVersions"/);
    });
  }
});

describe('a run of a newer format version (footer checksum valid, listed by the manifest)', () => {
  it('reads refuse with UnsupportedFormatError, verify reports it, nothing is rewritten', async () => {
    const directory = await storeWithRunsAndWal();
    const [copyA, copyB] = manifestCopies(directory);
    const { records } = manifestRecords(copyA);
    const generation = Number(/MANIFEST-(\d{10})/.exec(copyA)![1]);
    const state = replayChain(records as never, generation, copyA);
    const head = { sequence: records.at(-1)!.sequence, payload: { kind: 'state', formatVersion: stateFormatVersion(state), generation, state } as Record<string, unknown> };
    const inner = head.payload.state as { runs: Array<{ runId: number; generation: number; fileName: string; footerChecksum: string }> };
    const run = inner.runs.at(-1)!;
    const runPath = join(directory, 'runs', run.fileName);
    const file = readFileSync(runPath);
    const offset = file.length - RUN_PAGE_BYTES;
    const page = Buffer.from(file.subarray(offset));
    page.writeUInt32LE(7, 16);
    const checksum = blockChecksum(hash, page, { runId: run.runId, generation: run.generation, offset, kind: BlockKind.footer });
    page.writeBigUInt64LE(checksum, 0);
    page.copy(file, offset);
    writeFileSync(runPath, file);
    run.footerChecksum = checksumHex(checksum);
    const manifest = manifestRecord(head.sequence, head.payload);
    writeFileSync(copyA, manifest);
    writeFileSync(copyB, manifest);
    const before = snapshotOf(directory);

    const report = await verifyStore(directory);
    expect(report.runs.problems.map((problem) => problem.reason)).toEqual([expect.stringMatching(/run format version 7, which this release does not read/)]);
    expect(snapshotOf(directory)).toEqual(before);
    const opened = await openStore(directory, { checkpointOnClose: false, repair: true });
    const read = await opened.get('j0').then(() => 'read', (error: unknown) => error);
    const scrub = await opened.scrub();
    await opened.close();
    expect(read).toBeInstanceOf(UnsupportedFormatError);
    expect((read as UnsupportedFormatError).file).toBe(runPath);
    expect(scrub.repaired).toEqual([]);
    expect(scrub.unrecoverable.map((location) => location.file)).toContain(runPath);
    expect(readFileSync(runPath).equals(file), 'the run file as the newer release wrote it').toBe(true);
  });
});
