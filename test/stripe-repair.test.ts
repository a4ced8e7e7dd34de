/**
 * src/stripe/ + src/run/run-file.ts: one bad page in a stripe is rebuilt from
 * parity on the read path and written back; two bad pages in a stripe are a typed
 * error for that stripe only; the parity page and padding are checked and rebuilt
 * by scrub; a crash during the in-place rewrite leaves a file that still reads exact.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import type { CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { BlockKind, RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { scrubRuns } from '../src/stripe/scrub.js';
import { StripeCorruptionError } from '../src/stripe/stripe-errors.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';
import { BadSectorFileSystem, describePage, overwriteDurably, runPath, stripedPages } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Stripes of 8 data pages (not the default 16): these runs of a few dozen pages then span several stripes. */
const STRIPE_WIDTH = 8;
const open = (fileSystem: FaultFileSystem | BadSectorFileSystem, descriptor: RunDescriptor) =>
  RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));

/** Every entry by a full scan and by a lookup per key, compared with the model. */
async function expectExact(reader: RunReader, sorted: RunEntry[]): Promise<void> {
  expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
  const keys = [...new Set(sorted.map((entry) => entry.key))];
  for (const key of keys) expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
}

async function writeTwoGenerations(sorted: RunEntry[]): Promise<{ fileSystem: FaultFileSystem; descriptor: RunDescriptor; older: Buffer }> {
  const fileSystem = await freshFileSystem();
  await fileSystem.syncDirectory('/');
  const write = (generation: number) => writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation, level: 0, hash, entries: sorted, stripeDataPages: STRIPE_WIDTH });
  const olderDescriptor = await write(111);
  const older = Buffer.from(await fileSystem.readFile(runPath(olderDescriptor)));
  const descriptor = await write(222);
  return { fileSystem, descriptor, older };
}

describe('repair from parity', () => {
  it('every single damaged page of every stripe (random, zeroes, another page, an older generation) reads back exact; scrub restores the file', async () => {
    const sorted = simpleEntries(400, 1, 40);
    const { fileSystem, descriptor, older } = await writeTwoGenerations(sorted);
    const original = Buffer.from(await fileSystem.readFile(runPath(descriptor)));
    const probe = await open(fileSystem, descriptor);
    expect(probe.stripeCount).toBeGreaterThanOrEqual(2);
    const roles = Array.from({ length: stripedPages(descriptor) }, (_, page) => describePage(probe, page));
    await probe.close();
    expect(roles.map((role) => role.role)).toEqual(expect.arrayContaining(['data', 'padding', 'parity']));
    const damages: Record<string, (page: number) => Buffer> = {
      random: () => Buffer.from(Array.from({ length: RUN_PAGE_BYTES }, (_, index) => (index * 131 + 17) & 0xff)),
      zeroes: () => Buffer.alloc(RUN_PAGE_BYTES),
      anotherPage: (page) => original.subarray(((page + 1) % 3) * RUN_PAGE_BYTES, (((page + 1) % 3) + 1) * RUN_PAGE_BYTES),
      olderGeneration: (page) => older.subarray(page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES),
    };
    for (const [damageName, damage] of Object.entries(damages)) {
      for (let page = 0; page < roles.length; page++) {
        const bytes = damage(page);
        if (bytes.equals(original.subarray(page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES))) continue;
        await overwriteDurably(fileSystem, runPath(descriptor), bytes, page * RUN_PAGE_BYTES);
        const reader = await open(fileSystem, descriptor);
        await expectExact(reader, sorted);
        const role = roles[page]?.role;
        expect({ damageName, page, role, repaired: reader.repairCounters.repairedBlocks }).toEqual({ damageName, page, role, repaired: role === 'data' ? 1 : 0 });
        const report = await scrubRuns([{ descriptor, reader: () => reader }]);
        expect(report.unrecoverable).toEqual([]);
        expect(report.repaired.length).toBe(role === 'data' ? 0 : 1);
        expect(Buffer.from(await fileSystem.readFile(runPath(descriptor))).equals(original)).toBe(true);
        expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
        await reader.close();
      }
    }
  }, 120_000);

  it('an EIO on any page of a stripe is read around from parity', async () => {
    const sorted = simpleEntries(400, 1, 40);
    const { fileSystem, descriptor } = await writeTwoGenerations(sorted);
    const pages = stripedPages(descriptor);
    for (let page = 0; page < pages; page++) {
      const badSectors = new BadSectorFileSystem(fileSystem);
      badSectors.markBad(runPath(descriptor), page * RUN_PAGE_BYTES + 512, page * RUN_PAGE_BYTES + 1024);
      const reader = await open(badSectors, descriptor);
      await expectExact(reader, sorted);
      const role = describePage(reader, page).role;
      if (role === 'data') expect(reader.repairCounters.repairedBlocks).toBeGreaterThan(0);
      expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
      await reader.close();
    }
  });

  it('two bad pages in one stripe: a typed error naming run, stripe and blocks for keys there; other stripes read exact', async () => {
    const sorted = simpleEntries(800, 1, 40);
    const { fileSystem, descriptor } = await writeTwoGenerations(sorted);
    // Logical pages 1 and 2 (data blocks 1 and 2) sit in stripe 0.
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES), 1 * RUN_PAGE_BYTES);
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0xaa), 2 * RUN_PAGE_BYTES);
    const reader = await open(fileSystem, descriptor);
    expect(reader.stripeCount).toBeGreaterThanOrEqual(2);
    const block1 = await reader.readBlock(1).catch((error: unknown) => error);
    expect(block1).toBeInstanceOf(StripeCorruptionError);
    expect(block1).toBeInstanceOf(CorruptionError);
    expect(block1).toMatchObject({ code: 'LADYBUG_CORRUPTION', runId: 1, stripes: [0], badBlockOffsets: [RUN_PAGE_BYTES, 2 * RUN_PAGE_BYTES] });
    expect(reader.repairCounters.unrecoverableBlocks).toBe(1);
    // Every key outside blocks 1 and 2 reads exact.
    const badKeys = new Set<string>();
    let checked = 0;
    for (const key of [...new Set(sorted.map((entry) => entry.key))]) {
      const result = await reader.versions(key).then(
        (entries) => entries.map(plain),
        (error: unknown) => error,
      );
      if (result instanceof StripeCorruptionError) {
        badKeys.add(key);
        continue;
      }
      expect(result).toEqual(modelVersions(sorted, key));
      checked++;
    }
    expect(badKeys.size).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(badKeys.size * 4);
    const report = await scrubRuns([{ descriptor, reader: () => reader }]);
    expect(report.unrecoverable.map((finding) => [finding.kind, finding.logicalOffset, finding.stripe])).toEqual([
      ['data', RUN_PAGE_BYTES, 0],
      ['data', 2 * RUN_PAGE_BYTES, 0],
    ]);
    await reader.close();
  });
});

describe('index and filter blocks', () => {
  it('a damaged index page is rebuilt at open; with repair off the open fails and nothing is written', async () => {
    const sorted = simpleEntries(400, 1, 40);
    const { fileSystem, descriptor } = await writeTwoGenerations(sorted);
    const original = Buffer.from(await fileSystem.readFile(runPath(descriptor)));
    const probe = await open(fileSystem, descriptor);
    const indexPhysicalPage = Math.floor(probe.footer.indexOffset / RUN_PAGE_BYTES / 8) * 9 + ((probe.footer.indexOffset / RUN_PAGE_BYTES) % 8);
    await probe.close();
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x42), indexPhysicalPage * RUN_PAGE_BYTES);
    const damaged = Buffer.from(await fileSystem.readFile(runPath(descriptor)));
    await expect(RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair: false })).rejects.toBeInstanceOf(CorruptionError);
    expect(Buffer.from(await fileSystem.readFile(runPath(descriptor))).equals(damaged)).toBe(true);
    const events: unknown[] = [];
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { onRepair: (event) => events.push(event) });
    // Run format 3: the footer's index fields name the top-level index (test/run-partitions.test.ts damages partitions).
    expect(events).toEqual([expect.objectContaining({ runId: 1, kind: BlockKind.topIndex, logicalOffset: reader.footer.indexOffset, rewritten: true })]);
    expect(Buffer.from(await fileSystem.readFile(runPath(descriptor))).equals(original)).toBe(true);
    await expectExact(reader, sorted);
    await reader.close();
  });
});

describe('crash during the in-place rewrite', () => {
  const modes: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
  it('after a crash at every operation of a repairing read, in every mode, the run reads exact (repaired again if needed)', async () => {
    const sorted = simpleEntries(400, 1, 40);
    let outcomes = 0;
    for (const mode of modes) {
      for (let operations = 0; operations < 16; operations++) {
        const { fileSystem, descriptor } = await writeTwoGenerations(sorted);
        await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x5a), 3 * RUN_PAGE_BYTES);
        fileSystem.crashAfterOperations(operations);
        try {
          const reader = await open(fileSystem, descriptor);
          await reader.readBlock(3);
        } catch {
          // the simulated crash
        }
        const rebooted = fileSystem.crash(mode);
        const reader = await open(rebooted, descriptor);
        await expectExact(reader, sorted);
        expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
        outcomes += reader.repairCounters.repairedBlocks;
        await reader.close();
      }
    }
    // Early crashes leave the bad page (repaired after the reboot); late ones the good one.
    expect(outcomes).toBeGreaterThan(0);
    expect(outcomes).toBeLessThan(modes.length * 16);
  }, 120_000);
});

describe('scrub', () => {
  it('reports repaired blocks and parity with where, unrecoverable stripes, verify mode writes nothing, and stops on abort', async () => {
    const sorted = simpleEntries(800, 1, 40);
    const { fileSystem, descriptor } = await writeTwoGenerations(sorted);
    const path = runPath(descriptor);
    await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 1), 0); // stripe 0, data block 0
    await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 2), (9 + 8) * RUN_PAGE_BYTES); // stripe 1 parity
    const damagedImage = Buffer.from(await fileSystem.readFile(path));
    const reader = await open(fileSystem, descriptor);
    const verifyReport = await scrubRuns([{ descriptor, reader: () => reader }], { repair: false });
    expect(verifyReport.damaged.map((finding) => [finding.kind, finding.stripe])).toEqual([['data', 0], ['parity', 1]]);
    expect(Buffer.from(await fileSystem.readFile(path)).equals(damagedImage)).toBe(true);

    const controller = new AbortController();
    controller.abort();
    const aborted = await scrubRuns([{ descriptor, reader: () => reader }], { signal: controller.signal });
    expect(aborted).toMatchObject({ aborted: true, blocksChecked: 0, repaired: [] });

    const report = await scrubRuns([{ descriptor, reader: () => reader }], { bytesPerSecond: 1024 * 1024 * 1024 });
    expect(report.repaired.map((finding) => [finding.kind, finding.logicalOffset, finding.stripe, finding.runId])).toEqual([
      ['data', 0, 0, 1],
      ['parity', (9 + 8) * RUN_PAGE_BYTES, 1, 1],
    ]);
    expect(report).toMatchObject({ runs: 1, unrecoverable: [], damaged: [], aborted: false });
    // The footer, data blocks, the top-level index, an index and a filter partition per partition (run format 3), parity pages.
    expect(report.blocksChecked).toBe(1 + reader.blockCount + 1 + 2 * reader.partitionCount + reader.stripeCount);
    expect(reader.repairCounters).toMatchObject({ repairedBlocks: 1, repairedParityPages: 1, unrecoverableBlocks: 0 });
    const again = await scrubRuns([{ descriptor, reader: () => reader }]);
    expect([again.repaired, again.unrecoverable]).toEqual([[], []]);
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });
});
