/**
 * A compressed (cold-tier) run of large values compresses one such block at a time:
 * the writer keeps at most COMPRESSION_IN_FLIGHT_BYTES_MAX payload bytes in flight
 * beyond the oldest compression (src/run/block-shipper.ts). Before, `parallelism` blocks
 * were in flight whatever their size, each 16 MiB value's block with its payload copy
 * and its compressed copy: an in-process cold merge of three runs of eight 16 MiB values
 * reached +533 MiB of RSS. Small blocks keep `parallelism` compressions in flight.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import { COMPRESSION_IN_FLIGHT_BYTES_MAX } from '../src/run/block-shipper.js';
import { type BlockCompressor, InlineCompressor } from '../src/run/compression-pool.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionValue } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { seededBytes } from './support/seeded-bytes.js';
import { drain, plain, type PlainEntry } from './run-helpers.js';

/** Compresses inline, each answer a few event-loop turns later; records the most payload bytes and calls outstanding at once. */
class SlowCompressor implements BlockCompressor {
  readonly parallelism = 4;
  readonly #inline = new InlineCompressor();
  outstanding = 0;
  outstandingBytes = 0;
  maxOutstanding = 0;
  maxOutstandingBytes = 0;

  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    this.outstanding++;
    this.outstandingBytes += payload.length;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    this.maxOutstandingBytes = Math.max(this.maxOutstandingBytes, this.outstandingBytes);
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    const compressed = await this.#inline.compress(compression, payload);
    this.outstanding--;
    this.outstandingBytes -= payload.length;
    return compressed;
  }
}


/** Entries as comparable text (values as hex: a deep comparison of MiB-long arrays takes vitest tens of seconds). */
async function writeAndRead(entries: RunEntry[], compressor: SlowCompressor): Promise<PlainEntry[]> {
  const hash = await loadHash64();
  const fileSystem = new FaultFileSystem(4);
  await fileSystem.mkdir('/runs');
  const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 9, level: 2, hash, entries, compression: 'deflate', compressor });
  const reader = await RunReader.open(fileSystem, '/runs', descriptor, hash, new BlockCache(1024 * 1024));
  const read = await drain(await reader.cursor({}, false, { fillCache: false }));
  await reader.close();
  return read;
}

/** Each value's block just under COMPRESSION_IN_FLIGHT_BYTES_MAX (2 MiB): one fits in flight beside the oldest, not two. */
const LARGE_BYTES = 2 * 1024 * 1024 - 1000;

describe('a compressed run of large values', () => {
  it('bound checked here is the shipper\'s', () => {
    expect(COMPRESSION_IN_FLIGHT_BYTES_MAX).toBe(2 * 1024 * 1024);
  });

  it('compresses one large block at a time, and reads back exact', async () => {
    const compressor = new SlowCompressor();
    const entries: RunEntry[] = [];
    for (let number = 0; number < 6; number++) entries.push({ key: `big-${number}`, version: 50 - number, value: seededBytes(LARGE_BYTES + number, number + 1) });
    expect(await writeAndRead(entries, compressor)).toEqual(entries.map(plain));
    // Before: 4 blocks of ~2 MiB at once (parallelism 4).
    expect(compressor.maxOutstanding).toBe(2);
    expect(compressor.maxOutstandingBytes).toBeLessThanOrEqual(2 * (LARGE_BYTES + 1024));
  });

  it('keeps parallelism compressions of small blocks in flight', async () => {
    const compressor = new SlowCompressor();
    const entries: RunEntry[] = [];
    for (let number = 0; number < 400; number++) entries.push({ key: `small-${String(number).padStart(4, '0')}`, version: 1000 - number, value: seededBytes(300, number + 1) });
    expect(await writeAndRead(entries, compressor)).toEqual(entries.map(plain));
    expect(compressor.maxOutstanding).toBe(4);
  });
});
