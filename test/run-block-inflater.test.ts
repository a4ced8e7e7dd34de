/**
 * The reused inflate stream of packed cold blocks (src/run/block-inflater.ts): it
 * answers exactly what inflateRawSync answers, declines what it cannot answer whole
 * (output at or over its scratch, trailing bytes) so the caller falls back, turns a
 * zlib error into a CorruptionError and opens a new stream for the next block;
 * inflateInto does the same for a payload at an offset, answering a length in its
 * output scratch instead of a view (a point read's walk uses it: no Buffer made); and
 * point reads of a format-4 (deflate) run go through it, making no zlib object per
 * block read, uncached or cached, with every value exact.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { BlockCache } from '../src/run/block-cache.js';
import {
  BlockInflater,
  blockInflater,
  INFLATE_SCRATCH_BYTES,
  SELF_TEST_TAIL_DEFLATED,
  SELF_TEST_TAIL_START,
  SELF_TEST_WHOLE_DEFLATED,
  selfTestBytes,
} from '../src/run/block-inflater.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RunCompression } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** `length` bytes that compress a little (a seeded mix of text-like and random bytes). */
function sample(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[index] = index % 3 === 0 ? state & 0xff : 97 + (index % 11);
  }
  return bytes;
}

describe('BlockInflater', () => {
  it('answers what inflateRawSync answers, block after block on one stream', () => {
    const inflater = new BlockInflater();
    expect(inflater.usable).toBe(true);
    for (const [length, seed] of [[1, 1], [100, 2], [4096, 3], [5000, 4], [INFLATE_SCRATCH_BYTES - 1, 5], [300, 6]] as const) {
      const raw = sample(length, seed);
      const inflated = inflater.inflateBlock(zlib.deflateRawSync(raw, { level: 1 }), 'file', 0);
      expect(inflated).toBeDefined();
      expect(Buffer.compare(inflated as Buffer, raw)).toBe(0);
    }
    expect(inflater.counters.streamsOpened).toBe(1);
  });

  it('checks its stream at construction with constant deflate streams: no deflate state is made (issue 7: it runs in the first read after a reopen)', () => {
    // The constants are raw deflate of the self-test bytes and of their tail, as zlib itself inflates them.
    expect(Buffer.compare(zlib.inflateRawSync(Buffer.from(SELF_TEST_WHOLE_DEFLATED, 'base64')), selfTestBytes())).toBe(0);
    expect(Buffer.compare(zlib.inflateRawSync(Buffer.from(SELF_TEST_TAIL_DEFLATED, 'base64')), selfTestBytes().subarray(SELF_TEST_TAIL_START))).toBe(0);
    const deflate = vi.spyOn(zlib, 'deflateRawSync');
    const inflater = new BlockInflater();
    expect(inflater.usable).toBe(true);
    expect(deflate).not.toHaveBeenCalled();
    expect(inflater.counters.inflated).toBe(0);
    expect(inflater.counters.streamsOpened).toBe(1);
  });

  it('inflateInto reads a payload at an offset inside a larger buffer into the output scratch and answers its length, as inflateBlock answers the payload; -1 where inflateBlock declines', () => {
    const inflater = new BlockInflater();
    for (const [length, seed, before, after] of [[1, 21, 16, 0], [4096, 22, 16, 5], [5000, 23, 3, 100], [INFLATE_SCRATCH_BYTES - 1, 24, 16, 16]] as const) {
      const raw = sample(length, seed);
      const deflated = zlib.deflateRawSync(raw, { level: 1 });
      const framed = Buffer.concat([sample(before, seed + 100), deflated, sample(after, seed + 200)]);
      const answered = inflater.inflateInto(framed, before, deflated.length, 'file', 0);
      expect(answered).toBe(length);
      expect(Buffer.compare(inflater.output.subarray(0, answered), raw)).toBe(0);
      expect(inflater.output).toBe(inflater.output); // the one scratch, no view made
    }
    const large = zlib.deflateRawSync(sample(INFLATE_SCRATCH_BYTES, 25), { level: 1 });
    expect(inflater.inflateInto(Buffer.concat([Buffer.alloc(16), large]), 16, large.length, 'file', 0)).toBe(-1);
    expect(inflater.inflateBlock(large, 'file', 0)).toBeUndefined();
    const trailing = Buffer.concat([zlib.deflateRawSync(sample(2000, 26), { level: 1 }), Buffer.from([1, 2, 3])]);
    expect(inflater.inflateInto(trailing, 0, trailing.length, 'file', 0)).toBe(-1);
    expect(() => inflater.inflateInto(Buffer.from([9, 9, 0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37]), 2, 7, 'runs/8.run', 4096)).toThrow(CorruptionError);
    const raw = sample(3000, 27);
    const deflated = zlib.deflateRawSync(raw, { level: 1 });
    expect(Buffer.compare(inflater.output.subarray(0, inflater.inflateInto(deflated, 0, deflated.length, 'file', 0)), raw)).toBe(0);
  });

  it('declines a block whose output fills its scratch, and one with bytes after the deflate stream', () => {
    const inflater = new BlockInflater();
    expect(inflater.inflateBlock(zlib.deflateRawSync(sample(INFLATE_SCRATCH_BYTES, 7), { level: 1 }), 'file', 0)).toBeUndefined();
    expect(inflater.inflateBlock(zlib.deflateRawSync(sample(3 * INFLATE_SCRATCH_BYTES, 8), { level: 1 }), 'file', 0)).toBeUndefined();
    const trailing = Buffer.concat([zlib.deflateRawSync(sample(2000, 9), { level: 1 }), Buffer.from([1, 2, 3])]);
    expect(inflater.inflateBlock(trailing, 'file', 0)).toBeUndefined();
    expect(inflater.counters.declined).toBe(3);
    // The stream was reset after each: the next block reads exact.
    const raw = sample(4000, 10);
    expect(Buffer.compare(inflater.inflateBlock(zlib.deflateRawSync(raw, { level: 1 }), 'file', 0) as Buffer, raw)).toBe(0);
  });

  it('a payload zlib refuses is a CorruptionError naming the file and offset; the next block inflates on a new stream', () => {
    const inflater = new BlockInflater();
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37]);
    expect(() => zlib.inflateRawSync(garbage)).toThrow();
    let thrown: unknown;
    try {
      inflater.inflateBlock(garbage, 'runs/7.run', 8192);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CorruptionError);
    expect(thrown).toMatchObject({ code: 'LADYBUG_CORRUPTION' });
    expect(String((thrown as Error).message)).toContain('runs/7.run');
    const truncated = zlib.deflateRawSync(sample(4000, 11), { level: 1 }).subarray(0, 100);
    expect(() => inflater.inflateBlock(truncated, 'file', 0)).toThrow(CorruptionError);
    const raw = sample(4000, 12);
    expect(Buffer.compare(inflater.inflateBlock(zlib.deflateRawSync(raw, { level: 1 }), 'file', 0) as Buffer, raw)).toBe(0);
    expect(inflater.counters.streamsOpened).toBe(3);
  });
});

describe('point reads of a deflate run', () => {
  function entries(count: number): RunEntry[] {
    return Array.from({ length: count }, (_, index) => ({
      key: `key-${String(index).padStart(7, '0')}`,
      version: index + 1,
      value: index % 40 === 39 ? undefined : Buffer.from(JSON.stringify({ index, name: `name-${index % 97}`, pad: 'x'.repeat(index % 60) })),
    }));
  }

  for (const cacheBytes of [64 * 1024, 64 * 1024 * 1024]) {
    it(`inflate through the reused stream, no zlib call per block (cache ${cacheBytes / 1024} KiB)`, async () => {
      const sorted = entries(6_000);
      const fileSystem = await freshFileSystem();
      const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 3, hash, entries: sorted, compression: 'deflate' });
      const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(cacheBytes));
      expect(reader.footer.compression).toBe(RunCompression.deflate);
      const oneShot = vi.spyOn(zlib, 'inflateRawSync');
      const inflatedBefore = blockInflater().counters.inflated;
      for (let index = 0; index < sorted.length; index += 37) {
        const key = (sorted[index] as RunEntry).key;
        let found = reader.pointVersions(key);
        if (found instanceof Promise) found = await found;
        expect(found.map(plain)).toEqual(modelVersions(sorted, key));
      }
      expect(oneShot).not.toHaveBeenCalled();
      expect(blockInflater().counters.inflated).toBeGreaterThan(inflatedBefore);
      await reader.close();
    });
  }
});
