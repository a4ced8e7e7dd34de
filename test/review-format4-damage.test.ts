/**
 * Adversarial review of run format 4 (packed data blocks, 91c379c; docs/FORMAT.md
 * "Packed data blocks") under damage: silent bit flips and unreadable sectors on
 * pages shared by several blocks, on the zero padding after the last data block,
 * on the first index partition, and on a block that crosses a stripe boundary.
 * Every read is compared with the sorted-array model: a read returns exact data or
 * throws a CorruptionError naming the file and the block's offset, never wrong data;
 * a repair never makes a block that read fine before unreadable.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';
import { BadSectorFileSystem, overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function jsonEntries(count: number, prefix = 'user'): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: `${prefix}-${String(index).padStart(8, '0')}`,
    version: index + 1,
    value: index % 41 === 40 ? undefined : Buffer.from(JSON.stringify({ id: index, name: `user-${index}`, email: `user${index}@example.com`, score: (index * 7919) % 1000 })),
  }));
}

interface Block {
  offset: number;
  length: number;
  /** Keys whose entries lie in this block (unique keys: one version each in these runs). */
  keys: string[];
}

/** Every data block in order, with the keys it holds (keys ascending, each in the first block whose last key is >= it). */
async function dataBlocks(reader: RunReader, sorted: RunEntry[]): Promise<Block[]> {
  const blocks: Block[] = [];
  const lastKeyAtLeast: Array<(key: string) => boolean> = [];
  for (let number = 0; number < reader.partitionCount; number++) {
    const { index } = await reader.partition(number);
    for (let local = 0; local < index.blockCount; local++) {
      blocks.push({ offset: index.offset(local), length: index.lengthBytes(local), keys: [] });
      lastKeyAtLeast.push((key) => index.compareLastKey(key, local) <= 0);
    }
  }
  let block = 0;
  for (const entry of sorted) {
    if (blocks[block]!.keys.at(-1) === entry.key) continue;
    while (!lastKeyAtLeast[block]!(entry.key)) block++;
    blocks[block]!.keys.push(entry.key);
  }
  return blocks;
}

async function deflateRun(entries: RunEntry[], stripeDataPages?: number) {
  const fileSystem = await freshFileSystem();
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 9, generation: 5, level: 3, hash, entries, compression: 'deflate', stripeDataPages });
  return { fileSystem, descriptor };
}

const open = (fileSystem: FaultFileSystem | BadSectorFileSystem, descriptor: RunDescriptor, repair = true) =>
  RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0), { repair });

function layoutOf(reader: RunReader): StripeLayout {
  return new StripeLayout(reader.footer.stripeDataPages, RUN_PAGE_BYTES);
}

/** Physical byte offset of logical byte `offset`. */
function physical(reader: RunReader, offset: number): number {
  return layoutOf(reader).extents(offset, 1)[0]!.physicalOffset;
}

/** Checks every key of the model by point read and a full scan; returns the keys whose read threw (a CorruptionError each). */
async function readsExactOrCorrupt(reader: RunReader, sorted: RunEntry[], keys: readonly string[]): Promise<string[]> {
  const failed: string[] = [];
  for (const key of keys) {
    try {
      expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    } catch (error) {
      expect(error).toBeInstanceOf(CorruptionError);
      expect((error as CorruptionError).message).toContain(reader.path);
      failed.push(key);
    }
  }
  return failed;
}

describe('format 4 under damage', () => {
  it('repairing one block of a shared page never writes unchecked bytes over a neighbour block that read fine', async () => {
    const sorted = jsonEntries(20_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const layout = layoutOf(probe);
    const blocks = await dataBlocks(probe, sorted);
    const pageOf = (offset: number) => Math.floor(offset / RUN_PAGE_BYTES);
    const touches = (block: Block, page: number) => pageOf(block.offset) <= page && page <= pageOf(block.offset + block.length - 1);
    // B starts well inside page X; A (just before it) starts in an earlier page, so it holds X's first bytes.
    let chosen: { a: Block; b: Block; x: number; y: number } | undefined;
    for (let position = 1; position < blocks.length && chosen === undefined; position++) {
      const a = blocks[position - 1]!;
      const b = blocks[position]!;
      const inPage = b.offset % RUN_PAGE_BYTES;
      if (inPage < 200 || inPage > RUN_PAGE_BYTES - 200 || pageOf(a.offset) === pageOf(b.offset)) continue;
      const x = pageOf(b.offset);
      // Y: another data page of X's stripe that neither A nor B touches, after X (read after it by a scan).
      const y = x + 2;
      if (layout.stripeOfLogicalPage(y) !== layout.stripeOfLogicalPage(x) || touches(a, y) || touches(b, y)) continue;
      if (blocks.at(-1)!.offset < (y + 1) * RUN_PAGE_BYTES) continue;
      chosen = { a, b, x, y };
    }
    expect(chosen).toBeDefined();
    const { a, b, x, y } = chosen!;
    const inPage = b.offset % RUN_PAGE_BYTES;
    // Silent damage in B's part of X, and in Y at in-page bytes that lie in A's part of X.
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(32, 0x5a), physical(probe, x * RUN_PAGE_BYTES + inPage + 8));
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(32, 0xa5), physical(probe, y * RUN_PAGE_BYTES + 16));
    await probe.close();

    // Before any repair, A reads fine (its bytes are intact). Its first key only: a read of a
    // block's last key also reads the next block (a key's versions may continue there).
    const before = await open(fileSystem, descriptor);
    expect(await readsExactOrCorrupt(before, sorted, a.keys.slice(0, 1))).toEqual([]);
    expect(before.repairCounters.repairedBlocks).toBe(0);
    await before.close();
    // B is damaged in one page; it is rebuilt (Y's damage lies outside B's part of the rebuilt page).
    const repairing = await open(fileSystem, descriptor);
    expect(await readsExactOrCorrupt(repairing, sorted, b.keys.slice(0, 1))).toEqual([]);
    expect(repairing.repairCounters.repairedBlocks).toBe(1);
    await repairing.close();
    // A still reads exact after B's repair was written back.
    const after = await open(fileSystem, descriptor);
    expect(await readsExactOrCorrupt(after, sorted, a.keys)).toEqual([]);
    expect(await readsExactOrCorrupt(after, sorted, b.keys)).toEqual([]);
    await after.close();
  });

  it('concurrent repairs of every block sharing one bad page all return exact data, and the page ends up whole', async () => {
    const sorted = jsonEntries(20_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, sorted);
    const pageOf = (offset: number) => Math.floor(offset / RUN_PAGE_BYTES);
    const page = pageOf(blocks[Math.floor(blocks.length / 2)]!.offset);
    const touching = blocks.filter((block) => pageOf(block.offset) <= page && page <= pageOf(block.offset + block.length - 1));
    expect(touching.length).toBeGreaterThanOrEqual(3);
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x6b), layoutOf(probe).physicalPage(page) * RUN_PAGE_BYTES);
    await probe.close();

    const reader = await open(fileSystem, descriptor);
    const keys = touching.flatMap((block) => block.keys.filter((_, position) => position % 5 === 0));
    const results = await Promise.all(keys.map((key) => reader.versions(key)));
    results.forEach((found, position) => expect(found.map(plain)).toEqual(modelVersions(sorted, keys[position]!)));
    expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
    await reader.close();
    // Racing write-backs may leave part of the page bad (each writes its own block's bytes): a repairing
    // read fixes the rest, never loses a block, and then a non-repairing verify is clean.
    const again = await open(fileSystem, descriptor);
    expect(await drain(await again.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    expect(again.repairCounters.unrecoverableBlocks).toBe(0);
    await again.close();
    const verifying = await open(fileSystem, descriptor, false);
    expect((await verifying.verify()).problems).toEqual([]);
    await verifying.close();
  });

  it('a block crossing a stripe boundary with silent damage in both stripes (one page each) is rebuilt and written back, never wrong data', async () => {
    const sorted = jsonEntries(20_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const stripeDataBytes = probe.footer.stripeDataPages * RUN_PAGE_BYTES;
    const blocks = await dataBlocks(probe, sorted);
    const crossing = blocks.find((block) => block.offset % stripeDataBytes > stripeDataBytes - block.length + 40 && block.offset % stripeDataBytes < stripeDataBytes - 40);
    expect(crossing).toBeDefined();
    const boundary = Math.ceil(crossing!.offset / stripeDataBytes) * stripeDataBytes;
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(16, 0x33), physical(probe, boundary - 24));
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(16, 0x44), physical(probe, boundary + 8));
    await probe.close();

    const reader = await open(fileSystem, descriptor);
    const key = crossing!.keys[0]!;
    // One bad page in each stripe: rebuilt by trying one page per stripe (stripe-repair.ts;
    // this was a CorruptionError while only single-page rebuilds were tried).
    expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    expect(reader.repairCounters).toMatchObject({ repairedBlocks: 1, unrecoverableBlocks: 0 });
    const failed = await readsExactOrCorrupt(reader, sorted, sorted.filter((_, position) => position % 7 === 0).map((entry) => entry.key));
    expect(failed).toEqual([]);
    // Both pages were written back: scrub finds nothing left, verify is clean.
    const findings = [];
    for await (const step of reader.scrub(true)) findings.push(...step.findings);
    expect(findings).toEqual([]);
    expect((await reader.verify()).problems).toEqual([]);
    await reader.close();
  });

  it('EIO on the page holding the last data block end, its padding and the first index partition page: reads rebuild from parity', async () => {
    const sorted = jsonEntries(6_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, sorted);
    const end = blocks.at(-1)!.offset + blocks.at(-1)!.length;
    expect(end % RUN_PAGE_BYTES).not.toBe(0);
    const lastDataPage = Math.floor(end / RUN_PAGE_BYTES);
    const firstIndexPage = lastDataPage + 1;
    const layout = layoutOf(probe);
    await probe.close();
    for (const page of [lastDataPage, firstIndexPage]) {
      const bad = new BadSectorFileSystem(fileSystem);
      bad.markBad(runPath(descriptor), layout.physicalPage(page) * RUN_PAGE_BYTES, (layout.physicalPage(page) + 1) * RUN_PAGE_BYTES);
      const reader = await open(bad, descriptor);
      expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
      expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
      expect(await readsExactOrCorrupt(reader, sorted, blocks.at(-1)!.keys)).toEqual([]);
      expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
      await reader.close();
    }
  });

  it('silent damage on the first index partition page and on the top-level index: opened and read exact through parity', async () => {
    const sorted = jsonEntries(20_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, sorted);
    const end = blocks.at(-1)!.offset + blocks.at(-1)!.length;
    const firstIndexPage = Math.ceil(end / RUN_PAGE_BYTES);
    const topIndexPage = probe.footer.indexOffset / RUN_PAGE_BYTES;
    expect(probe.partitionCount).toBeGreaterThan(1);
    const layout = layoutOf(probe);
    await probe.close();
    for (const page of [firstIndexPage, topIndexPage]) {
      const saved = await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(48, 0x13), layout.physicalPage(page) * RUN_PAGE_BYTES + 24);
      const reader = await open(fileSystem, descriptor);
      expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
      expect(await readsExactOrCorrupt(reader, sorted, blocks[0]!.keys)).toEqual([]);
      expect(reader.repairCounters.repairedBlocks).toBe(1);
      await reader.close();
      const verifying = await open(fileSystem, descriptor, false);
      expect((await verifying.verify()).problems).toEqual([]);
      await verifying.close();
      expect(saved.length).toBe(48);
    }
  });

  it('a page shared by three or more tiny blocks: one bad page is rebuilt for each of them', async () => {
    // Tiny entries of distinct keys with one huge-range value compress to a few bytes per block only with
    // many keys; small targets are whole pages, so instead: random bytes (incompressible) of ~1 KiB per block.
    const entries: RunEntry[] = Array.from({ length: 3000 }, (_, index) => ({
      key: `k-${String(index).padStart(6, '0')}`,
      version: index + 1,
      value: Buffer.from(Array.from({ length: 120 }, (_, byte) => (index * 131 + byte * 17 + ((index * byte) >> 3)) & 0xff)),
    }));
    const { fileSystem, descriptor } = await deflateRun(entries);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, entries);
    const byPage = new Map<number, Block[]>();
    for (const block of blocks) {
      for (let page = Math.floor(block.offset / RUN_PAGE_BYTES); page <= Math.floor((block.offset + block.length - 1) / RUN_PAGE_BYTES); page++) {
        byPage.set(page, [...(byPage.get(page) ?? []), block]);
      }
    }
    const shared = [...byPage.entries()].find(([, touching]) => touching.length >= 3);
    if (shared === undefined) {
      // Incompressible entries make blocks about a page: report the sizes seen rather than passing silently.
      expect.fail(`no page holds 3 blocks; block lengths ${blocks.slice(0, 5).map((block) => block.length).join(',')}`);
    }
    const [page, touching] = shared;
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0xee), layoutOf(probe).physicalPage(page) * RUN_PAGE_BYTES);
    await probe.close();
    const reader = await open(fileSystem, descriptor);
    const keys = touching.flatMap((block) => block.keys);
    expect(await readsExactOrCorrupt(reader, entries, keys)).toEqual([]);
    expect(reader.repairCounters.unrecoverableBlocks).toBe(0);
    await reader.close();
    const again = await open(fileSystem, descriptor, false);
    expect((await again.verify()).problems).toEqual([]);
    await again.close();
  });

  it('scrub of a damaged zero-padding tail: no block is affected, parity is rewritten over the tail as found, data stays exact', async () => {
    const sorted = jsonEntries(6_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, sorted);
    const end = blocks.at(-1)!.offset + blocks.at(-1)!.length;
    expect(RUN_PAGE_BYTES - (end % RUN_PAGE_BYTES)).toBeGreaterThan(64);
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(32, 0x77), physical(probe, end + 16));
    await probe.close();

    // verify (no repair) reports the stripe's parity mismatch, not a block.
    const verifying = await open(fileSystem, descriptor, false);
    const verified = await verifying.verify();
    expect(verified.problems.length).toBe(1);
    await verifying.close();
    const reader = await open(fileSystem, descriptor);
    const findings = [];
    for await (const step of reader.scrub(true)) findings.push(...step.findings);
    // What it does (documented by this test): the tail is covered by no block checksum, so the only
    // finding is the parity page, rebuilt from the data pages as they are (garbage tail included).
    expect(findings.map((finding) => [finding.kind, finding.outcome])).toEqual([['parity', 'repaired']]);
    const second = [];
    for await (const step of reader.scrub(true)) second.push(...step.findings);
    expect(second).toEqual([]);
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    await reader.close();
  });

  it('a silently damaged last data page (blocks and zero tail): blocks are rebuilt, scrub then rewrites parity over the tail as found, data stays exact', async () => {
    const sorted = jsonEntries(6_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const probe = await open(fileSystem, descriptor);
    const blocks = await dataBlocks(probe, sorted);
    const end = blocks.at(-1)!.offset + blocks.at(-1)!.length;
    const lastDataPage = Math.floor(end / RUN_PAGE_BYTES);
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x21), layoutOf(probe).physicalPage(lastDataPage) * RUN_PAGE_BYTES);
    await probe.close();
    const reader = await open(fileSystem, descriptor);
    const findings = [];
    for await (const step of reader.scrub(true)) findings.push(...step.findings);
    expect(findings.filter((finding) => finding.kind === 'data').length).toBeGreaterThanOrEqual(1);
    expect(findings.every((finding) => finding.outcome === 'repaired')).toBe(true);
    // The tail after the last block is covered by no check, so a repair does not rewrite it from
    // parity: it stays as found, and the stripe's parity is rewritten over it (no data affected).
    expect(findings.filter((finding) => finding.kind === 'parity').map((finding) => finding.outcome)).toEqual(['repaired']);
    const second = [];
    for await (const step of reader.scrub(true)) second.push(...step.findings);
    expect(second).toEqual([]);
    expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
    expect(await drain(await reader.cursor({}, true))).toEqual(modelScan(sorted, {}, true));
    await reader.close();
  });

  it('verify() is clean on a clean run and names the damaged data block of a damaged one', async () => {
    const sorted = jsonEntries(8_000);
    const { fileSystem, descriptor } = await deflateRun(sorted);
    const clean = await open(fileSystem, descriptor, false);
    expect((await clean.verify()).problems).toEqual([]);
    const blocks = await dataBlocks(clean, sorted);
    const target = blocks[Math.floor(blocks.length / 3)]!;
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(8, 0x99), physical(clean, target.offset + Math.floor(target.length / 2)));
    await clean.close();
    const damaged = await open(fileSystem, descriptor, false);
    const result = await damaged.verify();
    expect(result.problems.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(result.problems)).toContain(String(target.offset));
    await damaged.close();
  });
});
