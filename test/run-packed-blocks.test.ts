/**
 * Run format 4 (docs/FORMAT.md, "Packed data blocks"): a compressed run's data
 * blocks are packed back to back, so a page can hold the end of one block and the
 * start of the next, and a block can cross a stripe boundary. These tests check
 * that such a run reads back exact (scans, point reads), that a damaged page shared
 * by two blocks or a page of a block that spans two stripes is rebuilt from parity
 * for both blocks and rewritten, that scrub finds and repairs it, and that the
 * writer pads the page after the last data block with zeros.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_FORMAT_VERSION_PACKED, RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function jsonEntries(count: number): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: `user-${String(index).padStart(8, '0')}`,
    version: index + 1,
    value: index % 41 === 40 ? undefined : Buffer.from(JSON.stringify({ id: index, name: `user-${index}`, email: `user${index}@example.com`, score: (index * 7919) % 1000 })),
  }));
}

interface BlockSpan {
  offset: number;
  length: number;
}

async function dataBlocks(reader: RunReader): Promise<BlockSpan[]> {
  const blocks: BlockSpan[] = [];
  for (let number = 0; number < reader.partitionCount; number++) {
    const { index } = await reader.partition(number);
    for (let local = 0; local < index.blockCount; local++) blocks.push({ offset: index.offset(local), length: index.lengthBytes(local) });
  }
  return blocks;
}

async function packedRun(count: number) {
  const sorted = jsonEntries(count);
  const fileSystem = await freshFileSystem();
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 7, generation: 3, level: 3, hash, entries: sorted, compression: 'deflate' });
  const open = () => RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(8 * 1024 * 1024));
  return { sorted, fileSystem, descriptor, open };
}

/** Physical byte offset of logical byte `offset` of the run. */
function physical(reader: RunReader, offset: number): number {
  const layout = new StripeLayout(reader.footer.stripeDataPages, RUN_PAGE_BYTES);
  return layout.extents(offset, 1)[0]!.physicalOffset;
}

describe('packed data blocks (run format 4)', () => {
  it('a deflate run is format 4 with blocks packed back to back, and reads back exact', async () => {
    const { sorted, open } = await packedRun(20_000);
    const reader = await open();
    expect(reader.footer.formatVersion).toBe(RUN_FORMAT_VERSION_PACKED);
    expect(reader.footer.compression).toBe(RunCompression.deflate);
    const blocks = await dataBlocks(reader);
    expect(blocks.length).toBeGreaterThan(20);
    for (let position = 1; position < blocks.length; position++) expect(blocks[position]!.offset).toBe(blocks[position - 1]!.offset + blocks[position - 1]!.length);
    expect(blocks.filter((block) => block.offset % RUN_PAGE_BYTES !== 0).length).toBeGreaterThan(blocks.length / 2);
    expect(blocks.every((block) => block.length > RUN_BLOCK_HEADER_BYTES && block.length < RUN_PAGE_BYTES)).toBe(true);
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    expect(await drain(await reader.cursor({ gte: 'user-00012345', lt: 'user-00012400' }, true))).toEqual(modelScan(sorted, { gte: 'user-00012345', lt: 'user-00012400' }, true));
    for (let index = 0; index < sorted.length; index += 97) {
      const key = sorted[index]!.key;
      expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    }
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });

  it('the page after the last data block is padded with zeros and the index starts on a page', async () => {
    const { fileSystem, descriptor, open } = await packedRun(5_000);
    const reader = await open();
    const blocks = await dataBlocks(reader);
    const end = blocks.at(-1)!.offset + blocks.at(-1)!.length;
    expect(end % RUN_PAGE_BYTES).not.toBe(0); // else this test checks nothing
    const handle = await fileSystem.open(runPath(descriptor), 'read');
    const tail = Buffer.alloc(RUN_PAGE_BYTES - (end % RUN_PAGE_BYTES));
    await handle.read(tail, 0, tail.length, physical(reader, end));
    await handle.close();
    expect(tail.equals(Buffer.alloc(tail.length))).toBe(true);
    await reader.close();
  });

  it('a damaged page holding the end of one block and the start of the next is rebuilt for both and written back', async () => {
    const { sorted, fileSystem, descriptor, open } = await packedRun(20_000);
    const probe = await open();
    const blocks = await dataBlocks(probe);
    // A block that starts inside a page another block ends in.
    const second = blocks.findIndex((block, position) => position > 2 && block.offset % RUN_PAGE_BYTES > 64 && block.offset % RUN_PAGE_BYTES < RUN_PAGE_BYTES - 64);
    expect(second).toBeGreaterThan(0);
    const page = Math.floor(blocks[second]!.offset / RUN_PAGE_BYTES) * RUN_PAGE_BYTES;
    const damageAt = physical(probe, page);
    await probe.close();
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x5a), damageAt);

    const reader = await open();
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    expect(reader.repairCounters.repairedBlocks).toBeGreaterThanOrEqual(1);
    expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
    await reader.close();
    // Written back: a reader that may not repair reads every block.
    const again = await open();
    expect((await again.verify()).problems).toEqual([]);
    await again.close();
  });

  it('a block that crosses a stripe boundary is rebuilt when the page in its second stripe is damaged', async () => {
    const { sorted, fileSystem, descriptor, open } = await packedRun(20_000);
    const probe = await open();
    const stripeDataBytes = probe.footer.stripeDataPages * RUN_PAGE_BYTES;
    const blocks = await dataBlocks(probe);
    const crossing = blocks.find((block) => Math.floor(block.offset / stripeDataBytes) !== Math.floor((block.offset + block.length - 1) / stripeDataBytes));
    expect(crossing).toBeDefined();
    const secondStripeStart = Math.ceil(crossing!.offset / stripeDataBytes) * stripeDataBytes;
    const damageAt = physical(probe, secondStripeStart);
    await probe.close();
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(64, 0xa5), damageAt + 8);

    const reader = await open();
    const keysInBlock = modelScan(sorted, {}, false).filter((_, position) => position % 53 === 0);
    for (const entry of keysInBlock) expect((await reader.versions(entry.key)).map(plain)).toEqual(modelVersions(sorted, entry.key));
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    expect(reader.repairCounters.repairedBlocks).toBeGreaterThanOrEqual(1);
    await reader.close();
  });

  it('scrub finds a damaged shared page, repairs it, and a second scrub is clean', async () => {
    const { sorted, fileSystem, descriptor, open } = await packedRun(20_000);
    const probe = await open();
    const blocks = await dataBlocks(probe);
    const target = blocks[Math.floor(blocks.length / 2)]!;
    const damageAt = physical(probe, Math.floor((target.offset + target.length - 1) / RUN_PAGE_BYTES) * RUN_PAGE_BYTES);
    await probe.close();
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x00), damageAt);

    const reader = await open();
    const findings = [];
    for await (const step of reader.scrub(true)) findings.push(...step.findings);
    expect(findings.length).toBeGreaterThanOrEqual(1);
    expect(findings.every((finding) => finding.outcome === 'repaired')).toBe(true);
    const second = [];
    for await (const step of reader.scrub(true)) second.push(...step.findings);
    expect(second).toEqual([]);
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    await reader.close();
  });
});
