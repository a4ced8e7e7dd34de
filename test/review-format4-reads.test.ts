/**
 * Adversarial review of run format 4 (packed data blocks, 91c379c): reads and crashes.
 * - A crash at every file-system operation of writing a deflate run, in every crash
 *   mode (lost unsynced data, a random subset of sectors and entries, a torn last
 *   write, a process kill): the run under its final name is absent or reads back exact,
 *   and present once the write resolved (runs/ is durable before it, so every mode checks).
 * - Reads through stripes of K = 2..64 data pages, a run whose one data block is tiny,
 *   values larger than the 4 KiB block target, and one key's many versions spanning
 *   packed blocks (reverse scans, as-of reads, point reads), each against the model.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CRASH_MODES } from '../src/fs/fault/crash-image-builder.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { turnTaker } from './helpers.js';
import { drain, freshFileSystem, modelAsOf, modelScan, modelVersions, plain, runOrder, RUNS_DIRECTORY } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const write = (fileSystem: FaultFileSystem, entries: RunEntry[], stripeDataPages?: number) =>
  writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 11, generation: 77, level: 3, hash, entries, compression: 'deflate', stripeDataPages });

/** Values that deflate only a little (so the run spans several stripes), 60-260 bytes. */
function mixedEntries(count: number): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: `key-${String(index).padStart(7, '0')}`,
    version: index + 1,
    value: index % 29 === 0 ? undefined : Buffer.from(Array.from({ length: 60 + ((index * 37) % 200) }, (_, byte) => (index * 7 + byte * byte * 13) & 0xff)),
  }));
}

/** Reads every key point-wise and as of a few versions, and scans both ways and over sub-ranges, against the model. */
async function expectExact(reader: RunReader, sorted: RunEntry[]): Promise<void> {
  expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
  expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
  const keys = [...new Set(sorted.map((entry) => entry.key))];
  for (let position = 0; position < keys.length; position += Math.max(1, Math.floor(keys.length / 300))) {
    const key = keys[position]!;
    expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    const range = { gte: key, lt: keys[position + 3] ?? `${key}~` };
    expect(await drain(await reader.cursor(range, true))).toEqual(modelScan(sorted, range, true));
  }
  expect((await reader.versions('key-absent')).map(plain)).toEqual([]);
}

describe('format 4 reads', () => {
  it('reads exact through stripes of K = 2, 3, 5, 16, 33 and 64 data pages', async () => {
    const sorted = mixedEntries(6000);
    for (const stripeDataPages of [2, 3, 5, 16, 33, 64]) {
      const fileSystem = await freshFileSystem();
      const descriptor = await write(fileSystem, sorted, stripeDataPages);
      const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1 << 20));
      expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION_PACKED);
      expect(reader.footer.stripeDataPages).toBe(stripeDataPages);
      expect(reader.stripeCount).toBeGreaterThan(1);
      await expectExact(reader, sorted);
      expect((await reader.verify()).problems).toEqual([]);
      await reader.close();
    }
  });

  it('a run whose one data block is tiny reads exact, and verify and scrub are clean', async () => {
    const sorted: RunEntry[] = [{ key: 'only', version: 3, value: Buffer.from('x') }];
    const fileSystem = await freshFileSystem();
    const descriptor = await write(fileSystem, sorted);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1 << 20));
    expect(reader.blockCount).toBe(1);
    await expectExact(reader, sorted);
    expect(plain((await reader.entryAsOf('only', 3))!)).toEqual(plain(sorted[0]!));
    expect(await reader.entryAsOf('only', 2)).toBeUndefined();
    expect((await reader.verify()).problems).toEqual([]);
    const findings = [];
    for await (const step of reader.scrub(true)) findings.push(...step.findings);
    expect(findings).toEqual([]);
    await reader.close();
  });

  it('values larger than a page (incompressible, 5-40 KiB) in a deflate run read exact', async () => {
    const sorted: RunEntry[] = Array.from({ length: 60 }, (_, index) => ({
      key: `big-${String(index).padStart(3, '0')}`,
      version: 100 + index,
      value: Buffer.from(Array.from({ length: 5000 + ((index * 7919) % 36_000) }, (_, byte) => ((byte * 2654435761) >>> 24) ^ index)),
    }));
    const fileSystem = await freshFileSystem();
    const descriptor = await write(fileSystem, sorted, 4);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1 << 20));
    await expectExact(reader, sorted);
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });

  it('one key with thousands of versions spans packed blocks: reverse scans, as-of and point reads match the model', async () => {
    const entries: RunEntry[] = [];
    for (const [key, count] of [['a', 30], ['hot', 4000], ['z', 30]] as const) {
      for (let version = 1; version <= count; version++) {
        entries.push({ key, version: (key === 'hot' ? 10_000 : key === 'z' ? 20_000 : 0) + version, value: version % 13 === 0 ? undefined : Buffer.from(`${key}:${version}:${'v'.repeat(version % 50)}`) });
      }
    }
    const sorted = runOrder(entries);
    const fileSystem = await freshFileSystem();
    const descriptor = await write(fileSystem, sorted, 2);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
    expect(reader.blockCount).toBeGreaterThan(5);
    await expectExact(reader, sorted);
    for (let version = 10_000; version <= 14_001; version += 97) {
      const found = await reader.entryAsOf('hot', version);
      expect(found === undefined ? undefined : plain(found)).toEqual(modelAsOf(sorted, 'hot', version));
    }
    expect(await drain(await reader.cursor({ gt: 'a', lt: 'z' }, true))).toEqual(modelScan(sorted, { gt: 'a', lt: 'z' }, true));
    expect(await drain(await reader.cursor({ gte: 'hot', lte: 'hot' }, true))).toEqual(modelScan(sorted, { gte: 'hot', lte: 'hot' }, true));
    await reader.close();
  });
});

describe('format 4 writes under crashes', () => {
  it('a crash at any operation of a deflate run write leaves no file or the exact run, in every crash mode', async () => {
    const sorted = mixedEntries(3000);
    const clean = await freshFileSystem();
    const before = clean.operationCount;
    const descriptor = await write(clean, sorted, 2);
    const operationCount = clean.operationCount - before;
    const finalPath = `${RUNS_DIRECTORY}/${descriptor.fileName}`;
    const complete = Buffer.from(await clean.readFile(finalPath));
    expect(descriptor.fileBytes).toBeGreaterThan(8 * RUN_PAGE_BYTES);
    const completeSeen = new Map(CRASH_MODES.map((mode) => [mode, 0]));
    const turn = turnTaker();
    for (let allowed = 0; allowed <= operationCount; allowed++) {
      for (const mode of CRASH_MODES) {
        await turn();
        const fileSystem = await freshFileSystem();
        fileSystem.crashAfterOperations(allowed);
        const done = await write(fileSystem, sorted, 2).then(() => true, () => false);
        expect(done).toBe(allowed === operationCount);
        const rebooted = fileSystem.crash(mode);
        const present = await rebooted.exists(finalPath);
        // runs/ is durable up to the root (freshFileSystem): a resolved write's run survives every mode.
        if (done) expect(present, `${mode}: the run is missing after writeRun resolved`).toBe(true);
        if (!present) continue;
        expect(Buffer.from(await rebooted.readFile(finalPath)).equals(complete), `${mode}, crash after ${allowed} operations: the run differs`).toBe(true);
        const reader = await RunReader.open(rebooted, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair: false });
        expect((await reader.verify()).problems).toEqual([]);
        // The bytes equal the clean write's, so one mode's full scan stands for all.
        if (mode === 'random-subset') expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
        await reader.close();
        completeSeen.set(mode, completeSeen.get(mode)! + 1);
      }
    }
    for (const mode of CRASH_MODES) expect(completeSeen.get(mode), mode).toBeGreaterThan(0);
  });
});
