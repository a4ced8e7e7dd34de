/**
 * Review (review9): `verifyStore` (`ladybug verify`) on a store with one damaged manifest
 * copy. The open repairs such a copy from its twin, as a read repairs a run block from
 * parity; but verify reported a run block parity would rebuild with `ok: false` (exit 1)
 * and a manifest copy damaged at rest, even unreadable (EIO), with `ok: true` and
 * "verify: ok" (exit 0), the damage only counted in `manifest.damagedCopies`, which a
 * clean crash also sets (the append in flight when it struck). Now damage no crash
 * explains (a copy unreadable, or bad at its full-state record or at a record the chain
 * goes on past) is listed in `manifest.problems` and makes `ok` false; what a crash
 * leaves (one copy short of, or torn at, its last edit) stays ok. Verify writes nothing
 * either way.
 */
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { decodeRecordAt } from '../src/manifest/manifest-format.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;

/** A closed store whose manifest copies hold a chain of several records (a state, then edits). */
async function storeWithChain(): Promise<{ directory: string; copies: string[]; recordOffsets: number[] }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
  for (let round = 0; round < 3; round++) {
    for (let index = round * 200; index < (round + 1) * 200; index++) await store.put(key(index), index);
    await store.checkpoint(); // a manifest edit each
  }
  await store.close();
  const copies = readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort()
    .map((name) => join(directory, 'manifest', name));
  expect(copies).toHaveLength(2);
  const bytes = readFileSync(copies[0] as string);
  expect(readFileSync(copies[1] as string).equals(bytes)).toBe(true);
  const hash = await loadHash64();
  const recordOffsets: number[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const read = decodeRecordAt(bytes, offset, hash);
    if (!read.ok) throw new Error(`record at ${offset}: ${read.reason}`);
    recordOffsets.push(offset);
    offset += read.record.sizeBytes;
  }
  expect(recordOffsets.length).toBeGreaterThanOrEqual(3);
  return { directory, copies, recordOffsets };
}

function flipBytes(path: string, offset: number, length: number): void {
  const bytes = readFileSync(path);
  for (let index = offset; index < offset + length; index++) bytes[index] = (bytes[index] as number) ^ 0xff;
  writeFileSync(path, bytes);
}

async function readsExact(directory: string): Promise<void> {
  const store = await openStore(directory);
  for (let index = 0; index < 600; index += 7) expect(await store.get(key(index))).toBe(index);
  await store.close();
}

describe('verify: a manifest copy damaged at rest is a finding', () => {
  it('copy b damaged in its first record (the chain goes on): ok false, the problem names copy b; nothing written', async () => {
    const { directory, copies } = await storeWithChain();
    const copyB = copies[1] as string;
    flipBytes(copyB, 40, 8);
    const damaged = readFileSync(copyB);
    const report = await verifyStore(directory);
    expect(report.ok).toBe(false);
    expect(report.manifest?.damagedCopies).toBe(1);
    expect(report.manifest?.problems).toHaveLength(1);
    expect(report.manifest?.problems[0]).toContain(copyB);
    expect(readFileSync(copyB).equals(damaged)).toBe(true);
    await readsExact(directory); // the open rewrites it from copy a
    const after = await verifyStore(directory);
    expect(after.ok).toBe(true);
    expect(after.manifest?.damagedCopies).toBe(0);
  });

  it('copy a damaged in a middle edit record: ok false', async () => {
    const { directory, copies, recordOffsets } = await storeWithChain();
    flipBytes(copies[0] as string, (recordOffsets[1] as number) + 30, 4);
    const report = await verifyStore(directory);
    expect(report.ok).toBe(false);
    expect(report.manifest?.problems).toHaveLength(1);
    await readsExact(directory);
  });

  it('a chain of one full-state record (a close rewrote it) damaged in copy a: ok false', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    for (let index = 0; index < 20; index++) {
      await store.put(key(index), index);
      await store.checkpoint(); // 20 edits: close writes a new generation of one record
    }
    await store.close();
    const copies = readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort();
    const copyA = join(directory, 'manifest', copies[0] as string);
    const bytes = readFileSync(copyA);
    const read = decodeRecordAt(bytes, 0, await loadHash64());
    expect(read.ok && read.record.sizeBytes === bytes.length).toBe(true);
    flipBytes(copyA, 0, 8);
    const report = await verifyStore(directory);
    expect(report.ok).toBe(false);
    expect(report.manifest?.problems).toHaveLength(1);
    const reopened = await openStore(directory);
    for (let index = 0; index < 20; index++) expect(await reopened.get(key(index))).toBe(index);
    await reopened.close();
  });

  it('a copy unreadable (EIO): ok false', async () => {
    const { directory, copies } = await storeWithChain();
    const fileSystem = new BadSectorFileSystem(new NodeFileSystem());
    fileSystem.markBad(copies[0] as string, 0, 1);
    const report = await verifyStore(directory, { fileSystem });
    expect(report.ok).toBe(false);
    expect(report.manifest?.damagedCopies).toBe(1);
    expect(report.manifest?.problems).toHaveLength(1);
  });
});

describe('verify: what a crash leaves in the manifest is not a finding', () => {
  it('copy b short of the last record (a crash between the two appends): ok, damagedCopies 1, no problem', async () => {
    const { directory, copies, recordOffsets } = await storeWithChain();
    truncateSync(copies[1] as string, recordOffsets.at(-1) as number);
    const report = await verifyStore(directory);
    expect(report.manifest?.damagedCopies).toBe(1);
    expect(report.manifest?.problems).toEqual([]);
    expect(report.ok).toBe(true);
    await readsExact(directory);
  });

  it('copy b torn in its last record (the append to b in flight): ok, no problem', async () => {
    const { directory, copies, recordOffsets } = await storeWithChain();
    const copyB = copies[1] as string;
    flipBytes(copyB, (recordOffsets.at(-1) as number) + 30, 4);
    const report = await verifyStore(directory);
    expect(report.manifest?.damagedCopies).toBe(1);
    expect(report.manifest?.problems).toEqual([]);
    expect(report.ok).toBe(true);
    await readsExact(directory);
  });

  it('an intact store: ok, nothing damaged', async () => {
    const { directory } = await storeWithChain();
    const report = await verifyStore(directory);
    expect(report.manifest).toMatchObject({ damagedCopies: 0, problems: [] });
    expect(report.ok).toBe(true);
  });
});
