/**
 * Review of the flush thread's 4 KiB path: 3e54aec (DataBlockBuilder keeps a grown
 * block buffer across blocks), 696da74 (parity XORed through one 64-bit view per
 * stripe) and 4bcd0b7 (StripedOutput#append copies synchronously, a promise only when
 * the chunk must be written first).
 *
 * - A builder reused across blocks of mixed sizes (one page, two, many, past
 *   DATA_BLOCK_KEPT_BYTES_MAX and back), whose whole buffer is overwritten with junk
 *   after every block, seals every block byte for byte (and checksum) as a fresh
 *   builder given the same entries: no stale byte reaches a block, so none is
 *   covered by a checksum as if it belonged.
 * - Runs of such entries, plain and compressed (packed blocks), read back exact;
 *   every stripe's parity page is the bytewise XOR of its data pages, and a damaged
 *   data page of any of them is rebuilt from parity on read.
 * - StripedOutput appends of any length (packed), the caller overwriting its bytes
 *   as soon as append returns undefined or its promise resolves, write exactly the
 *   appended bytes and the bytewise parity, for chunks of one stripe and several.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { InlineCompressor } from '../src/run/compression-pool.js';
import { DATA_BLOCK_KEPT_BYTES_MAX, DataBlockBuilder } from '../src/run/data-block.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { BlockKind, RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES, sealBlock } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { type SealedBlock, writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import { StripedOutput } from '../src/stripe/striped-output.js';
import { drain, modelScan } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Deterministic u32 generator (mulberry32). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  };
}

/**
 * Value sizes around the page boundaries a block grows at (an entry's fixed bytes and
 * key put 4,0xx-byte values on either side of one page), 4 KiB values, and values
 * past the kept bound; undefined is a tombstone.
 */
const SIZES: ReadonlyArray<number | undefined> = [
  4096, 4096, 1, undefined, 4050, 4055, 4060, 4065, 4070, 4075, 4080, 100, 4096, 8150, 8170, 8190, 8200,
  4096, 12_000, 3000, 30_000, 4096, DATA_BLOCK_KEPT_BYTES_MAX - 64, DATA_BLOCK_KEPT_BYTES_MAX, 4096, 10, 70_000, 4096, 200, 4096,
];

/** Entries in run order with values of SIZES' sizes (random bytes), some keys with two or three versions. */
function mixedEntries(seed: number, count: number): RunEntry[] {
  const random = generator(seed);
  const entries: RunEntry[] = [];
  for (let number = 0; entries.length < count; number++) {
    const key = `k/${number.toString().padStart(6, '0')}${'~'.repeat(random() % 24)}`;
    const versions = 1 + (random() % 5 === 0 ? 1 + (random() % 2) : 0);
    for (let version = versions; version >= 1; version--) {
      const size = SIZES[random() % SIZES.length];
      const value = size === undefined ? undefined : Uint8Array.from({ length: size }, () => random() & 0xff);
      entries.push({ key, version: 5000 + number * 4 + version, value });
    }
  }
  return entries;
}

/** The block a fresh builder makes of `entries` (all fit one block), sealed at `offset`. */
function freshBlock(entries: readonly RunEntry[], targetBytes: number, offset: number): { bytes: Buffer; checksum: bigint } {
  const builder = new DataBlockBuilder(targetBytes);
  for (const entry of entries) expect(builder.tryAdd(entry)).toBe(true);
  const bytes = Buffer.from(builder.block());
  const checksum = sealBlock(hash, bytes, builder.payloadBytes, builder.entryCount, { runId: 9, generation: 4, offset, kind: BlockKind.data });
  return { bytes, checksum };
}

describe('DataBlockBuilder reused across blocks of mixed sizes', () => {
  for (const targetPages of [1, 2]) {
    it(`target ${targetPages} page(s): every block seals as a fresh builder's, with the reused buffer filled with junk after each`, () => {
      const targetBytes = targetPages * RUN_PAGE_BYTES;
      const builder = new DataBlockBuilder(targetBytes);
      const entries = mixedEntries(11 + targetPages, 900);
      let inBlock: RunEntry[] = [];
      let offset = 0;
      let blocks = 0;
      let grownThenSmaller = 0;
      let previousLength = 0;
      const ship = (): void => {
        const block = builder.block();
        const bytes = Buffer.from(block);
        const checksum = sealBlock(hash, bytes, builder.payloadBytes, builder.entryCount, { runId: 9, generation: 4, offset, kind: BlockKind.data });
        const fresh = freshBlock(inBlock, targetBytes, offset);
        if (!bytes.equals(fresh.bytes) || checksum !== fresh.checksum) {
          throw new Error(`block ${blocks} (${inBlock.length} entries, ${bytes.length} bytes, after a ${previousLength}-byte block) differs from a fresh builder's`);
        }
        if (block.length < previousLength) grownThenSmaller++;
        previousLength = block.length;
        // Whatever the reused buffer holds now, none of it may reach a later block.
        new Uint8Array(block.buffer).fill(0xee);
        offset += block.length;
        blocks++;
        builder.reset();
        inBlock = [];
      };
      for (const entry of entries) {
        if (!builder.tryAdd(entry)) {
          ship();
          expect(builder.tryAdd(entry)).toBe(true);
        }
        inBlock.push(entry);
      }
      ship();
      expect(blocks).toBeGreaterThan(300);
      expect(grownThenSmaller).toBeGreaterThan(50);
    });
  }
});

/** Checks every stripe of the run file's striped area: its parity page is the bytewise XOR of its data pages. */
function expectBytewiseParity(file: Uint8Array, stripes: number, dataPages: number): void {
  const stripeBytes = (dataPages + 1) * RUN_PAGE_BYTES;
  expect(file.length).toBeGreaterThanOrEqual(stripes * stripeBytes);
  for (let stripe = 0; stripe < stripes; stripe++) {
    const start = stripe * stripeBytes;
    const parity = new Uint8Array(RUN_PAGE_BYTES);
    for (let page = 0; page < dataPages; page++) {
      const pageStart = start + page * RUN_PAGE_BYTES;
      for (let index = 0; index < RUN_PAGE_BYTES; index++) parity[index]! ^= file[pageStart + index]!;
    }
    const stored = file.subarray(start + dataPages * RUN_PAGE_BYTES, start + stripeBytes);
    if (!Buffer.from(stored).equals(Buffer.from(parity))) throw new Error(`stripe ${stripe}: parity page is not the XOR of its data pages`);
  }
}

async function overwrite(fileSystem: FaultFileSystem, path: string, bytes: Uint8Array, position: number): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  await handle.write(bytes, position);
  await handle.sync();
  await handle.close();
}

describe('runs of mixed-size entries written with the reused builder', () => {
  for (const compression of ['none', 'deflate'] as const) {
    for (const stripeDataPages of [16, 3]) {
      it(`${compression}, ${stripeDataPages} data pages a stripe: read back exact, parity bytewise, each damaged data page rebuilt from parity`, async () => {
        const entries = mixedEntries(stripeDataPages * 31 + (compression === 'none' ? 1 : 2), 420);
        const fileSystem = new FaultFileSystem(5);
        await fileSystem.mkdir('/runs');
        // Every sealed data block's bytes past its payload are zeros (a stale byte there would be covered by its checksum).
        let sealedDataBlocks = 0;
        const onBlockSealed = (sealed: SealedBlock): void => {
          if (sealed.kind !== 'data') return;
          sealedDataBlocks++;
          const padding = sealed.bytes.subarray(RUN_BLOCK_HEADER_BYTES + sealed.payloadBytes);
          if (!padding.every((byte) => byte === 0)) throw new Error(`data block at ${sealed.offset}: a non-zero byte past its payload`);
        };
        const descriptor = await writeRun({
          fileSystem, runsDirectory: '/runs', runId: 21, generation: 3, level: 1, hash, entries,
          compression, compressor: new InlineCompressor(), stripeDataPages, onBlockSealed,
        });
        expect(sealedDataBlocks).toBeGreaterThan(100);
        const path = `/runs/${descriptor.fileName}`;
        const original = Buffer.from(await fileSystem.readFile(path));
        const reader = await RunReader.open(fileSystem, '/runs', descriptor, hash, new BlockCache(0), { repair: false });
        const stripes = reader.stripeCount;
        expect(await reader.verify()).toMatchObject({ problems: [] });
        expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(entries, {}, false));
        await reader.close();
        expectBytewiseParity(original, stripes, stripeDataPages);
        expect(stripes).toBeGreaterThan(4);
        // One damaged data page at a time, in a sample of stripes: a read rebuilds it from parity, exact.
        const stripeBytes = (stripeDataPages + 1) * RUN_PAGE_BYTES;
        let damaged = 0;
        for (let stripe = 0; stripe < stripes; stripe += Math.max(1, Math.floor(stripes / 6))) {
          const page = (stripe * 5) % stripeDataPages;
          const position = stripe * stripeBytes + page * RUN_PAGE_BYTES;
          if (original.subarray(position, position + RUN_PAGE_BYTES).every((byte) => byte === 0)) continue;
          await overwrite(fileSystem, path, new Uint8Array(RUN_PAGE_BYTES).fill(0x5a), position);
          const repairing = await RunReader.open(fileSystem, '/runs', descriptor, hash, new BlockCache(0), { repair: true });
          expect(await drain(await repairing.cursor({}, false)), `stripe ${stripe}, page ${page}`).toEqual(modelScan(entries, {}, false));
          await repairing.close();
          await overwrite(fileSystem, path, original.subarray(position, position + RUN_PAGE_BYTES), position);
          damaged++;
        }
        expect(damaged).toBeGreaterThan(3);
      });
    }
  }
});

describe('StripedOutput appends of any length, the caller reusing its bytes at once', () => {
  for (const [dataPages, stripesPerChunk] of [[16, 1], [3, 1], [2, 4], [5, 2]] as const) {
    it(`${dataPages} data pages a stripe, ${stripesPerChunk} stripe(s) a chunk: the file is the appended bytes and their bytewise parity`, async () => {
      const fileSystem = new FaultFileSystem(9);
      await fileSystem.mkdir('/d');
      const handle = await fileSystem.open('/d/striped', 'createExclusive');
      const layout = new StripeLayout(dataPages, RUN_PAGE_BYTES);
      const output = new StripedOutput(handle, layout, stripesPerChunk * layout.stripeBytes);
      const random = generator(dataPages * 100 + stripesPerChunk);
      const logical: number[] = [];
      const reused = new Uint8Array(3 * RUN_PAGE_BYTES + 17);
      let promises = 0;
      for (let append = 0; append < 160; append++) {
        const choice = random() % 6;
        const length = choice === 0 ? 1 + (random() % 16) : choice === 1 ? RUN_PAGE_BYTES : choice === 2 ? 2 * RUN_PAGE_BYTES : 1 + (random() % reused.length);
        const bytes = reused.subarray(0, length);
        for (let index = 0; index < length; index++) bytes[index] = random() & 0xff;
        for (const byte of bytes) logical.push(byte);
        const answer = output.append(bytes);
        if (answer !== undefined) {
          promises++;
          await answer;
        }
        reused.fill(0xcc); // the caller's buffer is its own again
      }
      const end = await output.finish();
      await handle.close();
      expect(promises).toBeGreaterThan(0);
      const pages = Math.ceil(logical.length / RUN_PAGE_BYTES);
      const stripes = Math.ceil(pages / dataPages);
      expect(end).toBe(stripes * layout.stripeBytes);
      const expected = new Uint8Array(end);
      for (let index = 0; index < logical.length; index++) {
        const page = Math.floor(index / RUN_PAGE_BYTES);
        const stripe = Math.floor(page / dataPages);
        expected[stripe * layout.stripeBytes + (page % dataPages) * RUN_PAGE_BYTES + (index % RUN_PAGE_BYTES)] = logical[index]!;
      }
      for (let stripe = 0; stripe < stripes; stripe++) {
        const start = stripe * layout.stripeBytes;
        for (let page = 0; page < dataPages; page++) {
          for (let index = 0; index < RUN_PAGE_BYTES; index++) expected[start + dataPages * RUN_PAGE_BYTES + index]! ^= expected[start + page * RUN_PAGE_BYTES + index]!;
        }
      }
      const file = await fileSystem.readFile('/d/striped');
      expect(file.length).toBe(end);
      expect(Buffer.from(file).equals(Buffer.from(expected))).toBe(true);
    });
  }
});
