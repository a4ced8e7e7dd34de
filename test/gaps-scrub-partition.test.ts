/**
 * Scrub of a run whose index partition passes its checksum but does not decode
 * (src/run/run-scrub.ts, scrub's partition loop). a2c488c made verify's entry-level pass
 * report such a partition, but the scrub pass itself dropped every CorruptionError of a
 * partition read as one its block step had reported: true when the block failed its
 * checksum, false when it passed and its decode failed. Then store.scrub() and the
 * background scrub reported nothing for a run whose reads all fail.
 *
 * The damage (test/support/relabelled-run.ts): a cold run (format 6) whose footer is
 * relabelled format 5 with its checksum recomputed; every block passes its check, and its
 * one index partition gives block lengths format 5 does not allow.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { type RunScrubFinding, UNDECODABLE_NOTE } from '../src/run/run-scrub.js';
import { scrubRuns } from '../src/stripe/scrub.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { writeRun } from '../src/run/run-writer.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';
import { BadSectorFileSystem, overwriteDurably, runPath } from './stripe-helpers.js';
import { writeRelabelledRun } from './support/relabelled-run.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const NOT_CONTIGUOUS = 'index block: data blocks not contiguous';

async function open(fileSystem: FaultFileSystem | BadSectorFileSystem, descriptor: RunDescriptor): Promise<RunReader> {
  return RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
}

async function findingsOf(reader: RunReader, repair: boolean): Promise<RunScrubFinding[]> {
  const findings: RunScrubFinding[] = [];
  for await (const step of reader.scrub(repair)) findings.push(...step.findings);
  return findings;
}

/** Scrub steps in order: the footer, the top-level index, then (one partition) the index partition's block. */
const PARTITION_BLOCK_STEP = 2;

/** Findings of a scrub without repair, calling `afterPartitionBlock` once the partition's block step is taken. */
async function findingsAround(reader: RunReader, afterPartitionBlock: () => Promise<void>): Promise<RunScrubFinding[]> {
  expect(reader.partitionCount).toBe(1);
  const findings: RunScrubFinding[] = [];
  let number = 0;
  for await (const step of reader.scrub(false)) {
    findings.push(...step.findings);
    if (number++ === PARTITION_BLOCK_STEP) await afterPartitionBlock();
  }
  return findings;
}

/** Where the index partition's block lies: logical and physical offsets. */
function partitionBlock(reader: RunReader): { logical: number; physical: number; lengthBytes: number; stripe: number } {
  const top = reader.topLevelIndex!;
  const logical = top.indexOffset(0);
  const layout = new StripeLayout(reader.footer.stripeDataPages, RUN_PAGE_BYTES);
  return { logical, physical: layout.physicalOffset(logical), lengthBytes: top.indexLength(0), stripe: layout.stripeOfLogicalPage(logical / RUN_PAGE_BYTES) };
}

async function flipByte(fileSystem: FaultFileSystem, descriptor: RunDescriptor, position: number): Promise<void> {
  const saved = await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(1), position);
  await overwriteDurably(fileSystem, runPath(descriptor), Buffer.from([saved[0]! ^ 0xff]), position);
}

/** The CorruptionError a point read through the partition fails with. */
async function failedRead(reader: RunReader): Promise<CorruptionError> {
  const read = await Promise.resolve().then(() => reader.pointVersions('key-000001')).then(() => undefined, (error: unknown) => error);
  expect(read).toBeInstanceOf(CorruptionError);
  expect(String(read)).toContain(NOT_CONTIGUOUS);
  return read as CorruptionError;
}

describe('gaps: scrub of an index partition that passes its checksum but does not decode', () => {
  it('reports it once, as unrecoverable, with and without repair, and writes nothing', async () => {
    const { fileSystem, descriptor } = await writeRelabelledRun(hash);
    const before = Buffer.from(await fileSystem.readFile(runPath(descriptor)));
    const reader = await open(fileSystem, descriptor);
    expect(reader.partitionCount).toBe(1);
    const read = await failedRead(reader);
    expect(reader.topLevelIndex?.indexOffset(0)).toBe(read.offset);
    const expected = { kind: 'index', logicalOffset: read.offset, stripe: 0, outcome: 'unrecoverable', reason: `${NOT_CONTIGUOUS} (${UNDECODABLE_NOTE})` };

    expect(await findingsOf(reader, false)).toEqual([expected]);
    // The parity of the stripes its data blocks span is not checked, so not rewritten from them either.
    expect(await findingsOf(reader, true)).toEqual([expected]);
    expect(Buffer.from(await fileSystem.readFile(runPath(descriptor))).equals(before)).toBe(true);
    await reader.close();
  });

  it('is reported by the store\'s scrub of runs, with the keys of the partition', async () => {
    const { fileSystem, descriptor } = await writeRelabelledRun(hash);
    const reader = await open(fileSystem, descriptor);
    const read = await failedRead(reader);
    for (const repair of [false, true]) {
      const report = await scrubRuns([{ descriptor, reader: () => reader }], { repair });
      expect(report.repaired).toEqual([]);
      expect(report.damaged).toEqual([]);
      expect(report.unrecoverable).toHaveLength(1);
      const [location] = report.unrecoverable;
      expect(location).toMatchObject({ runId: descriptor.runId, kind: 'index', logicalOffset: read.offset, outcome: 'unrecoverable' });
      expect(location?.keys).toMatchObject({ known: true, through: new Uint8Array(Buffer.from(descriptor.largestKey, 'latin1')) });
    }
    await reader.close();
  });

  it('a partition that fails its checksum is reported by its block step alone', async () => {
    const { fileSystem, descriptor } = await writeRelabelledRun(hash);
    const probe = await open(fileSystem, descriptor);
    const block = partitionBlock(probe);
    await probe.close();
    await flipByte(fileSystem, descriptor, block.physical + 100);

    const reader = await open(fileSystem, descriptor);
    const findings = await findingsOf(reader, false);
    expect(findings).toEqual([{ kind: 'index', logicalOffset: block.logical, stripe: block.stripe, outcome: 'damaged', reason: expect.any(String) as string }]);
    expect(findings[0]?.reason).not.toContain(NOT_CONTIGUOUS);
    await reader.close();
  });

  it('a partition unreadable at its block step and undecodable after is reported once', async () => {
    const relabelled = await writeRelabelledRun(hash);
    const fileSystem = new BadSectorFileSystem(relabelled.fileSystem);
    const reader = await open(fileSystem, relabelled.descriptor);
    const block = partitionBlock(reader);
    fileSystem.markBad(runPath(relabelled.descriptor), block.physical, block.physical + block.lengthBytes);
    // The sector reads again after the block step (as after a remap): the partition read then fails to decode.
    const findings = await findingsAround(reader, async () => {
      fileSystem.bad.clear();
    });
    expect(findings).toEqual([{ kind: 'index', logicalOffset: block.logical, stripe: block.stripe, outcome: 'damaged', reason: expect.stringContaining('EIO') as string }]);
    await reader.close();
  });

  it('a sound partition that goes bad after its block step is reported by the partition read', async () => {
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 7, level: 3, hash, entries: simpleEntries(3_000, 1, 40) });
    const reader = await open(fileSystem, descriptor);
    expect(await findingsOf(reader, false)).toEqual([]);
    const block = partitionBlock(reader);
    // Before: the partition read's checksum failure was dropped as reported, and the parity of
    // its stripe is not checked once its data blocks cannot be found, so the pass found nothing.
    const findings = await findingsAround(reader, () => flipByte(fileSystem, descriptor, block.physical + 100));
    expect(findings).toEqual([{ kind: 'index', logicalOffset: block.logical, stripe: block.stripe, outcome: 'damaged', reason: expect.any(String) as string }]);
    expect(findings[0]?.reason).not.toContain(NOT_CONTIGUOUS);
    await reader.close();
  });
});
