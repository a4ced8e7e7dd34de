/**
 * Review of 413d040 (cold blocks inflated through one reused zlib handle driven through
 * Node's internals, src/run/block-inflater.ts), through the run reader rather than the
 * inflater alone (run-block-inflater covers it alone):
 * - a block whose deflate payload is truncated, garbage, or never ends (no final
 *   deflate block) but whose block checksum passes (the test's compressor writes it, so
 *   the writer checksums what it was given): every read of its keys is a
 *   CorruptionError, never wrong or partial entries; every other key reads exact, the
 *   read right after each error too (a new stream after the failed one); a scan yields
 *   exact entries up to the block and then fails;
 * - values whose lone block inflates to just under, exactly, and just over the
 *   inflater's 64 KiB scratch (declined, left to inflateRawSync) read exact;
 * - reads of two cold runs interleaved (point reads and two open cursors alternating,
 *   nothing cached) read exact: no block's entries alias the other's inflate;
 * - with the handle missing or answering wrong (simulated), the self-test fails and every
 *   block is inflated by inflateRawSync, exact.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { compressPayload } from '../src/run/block-compression.js';
import { blockInflater, INFLATE_SCRATCH_BYTES } from '../src/run/block-inflater.js';
import type { BlockCompressor } from '../src/run/compression-pool.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionValue } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, modelVersions, plain, type PlainEntry, RUNS_DIRECTORY } from './run-helpers.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const POISON = Buffer.from('POISONED-BLOCK-MARKER');

/** Seeded bytes (xorshift). */
function seeded(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

type Damage = 'truncated' | 'garbage' | 'never-ends';

/** Compresses as the store does, except the payload holding POISON, which it damages as told. */
class DamagingCompressor implements BlockCompressor {
  readonly parallelism = 1;
  damaged = 0;
  constructor(readonly damage: Damage | undefined) {}
  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    const good = compressPayload(compression, payload);
    if (this.damage === undefined || Buffer.from(payload).indexOf(POISON) < 0) return good;
    this.damaged++;
    if (this.damage === 'truncated') return good.subarray(0, Math.floor(good.length / 2));
    if (this.damage === 'garbage') return seeded(good.length, 4242);
    return zlib.deflateRawSync(payload, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  }
}

function keyOf(index: number): string {
  return `key-${String(index).padStart(6, '0')}`;
}

function entries(count: number, poisonAt: number | undefined, seed: number): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: keyOf(index),
    version: index + 1,
    value: index === poisonAt ? Buffer.concat([POISON, Buffer.from(`-${index}`)]) : Buffer.from(`${seed}:${index}:${'v'.repeat(20 + ((index * 31) % 90))}`),
  }));
}

async function writeDeflateRun(fileSystem: FaultFileSystem, runId: number, sorted: RunEntry[], compressor: BlockCompressor): Promise<RunDescriptor> {
  return writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId, generation: runId, level: 3, hash, entries: sorted, compression: 'deflate', compressor });
}

async function pointRead(reader: RunReader, key: string): Promise<PlainEntry[]> {
  const found = reader.pointVersions(key);
  return (found instanceof Promise ? await found : found).map(plain);
}

function isCorruption(error: unknown): boolean {
  return error instanceof Error && (error as { code?: string }).code === 'LADYBUG_CORRUPTION';
}

describe('a packed block whose deflate payload is damaged behind a passing checksum', () => {
  for (const damage of ['truncated', 'garbage', 'never-ends'] as const) {
    for (const cacheBytes of [0, 64 * 1024 * 1024]) {
      it(`${damage}, cache ${cacheBytes}: its keys fail with CorruptionError, every other key reads exact`, async () => {
        const sorted = entries(3000, 1700, 1);
        const fileSystem = await freshFileSystem();
        const compressor = new DamagingCompressor(damage);
        const descriptor = await writeDeflateRun(fileSystem, 1, sorted, compressor);
        expect(compressor.damaged).toBe(1);
        const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(cacheBytes));
        const failed: number[] = [];
        for (let index = 0; index < sorted.length; index++) {
          const key = keyOf(index);
          try {
            expect(await pointRead(reader, key)).toEqual(modelVersions(sorted, key));
          } catch (error) {
            if (!isCorruption(error)) throw error;
            failed.push(index);
            // The read right after the error: a block far away, on a new stream.
            expect(await pointRead(reader, keyOf(index > 1500 ? 5 : 2990))).toEqual(modelVersions(sorted, keyOf(index > 1500 ? 5 : 2990)));
          }
        }
        // One block's keys fail (and the previous block's last key, whose versions may go on into it): a contiguous range.
        expect(failed).toContain(1700);
        expect(failed.length).toBeLessThan(200);
        expect(failed.at(-1)! - failed[0]!).toBe(failed.length - 1);
        // A scan: exact entries up to the damaged block, then a CorruptionError.
        const cursor = await reader.cursor({}, false, { fillCache: cacheBytes > 0 });
        const scanned: PlainEntry[] = [];
        let scanError: unknown;
        try {
          while (cursor.current !== undefined) {
            scanned.push(plain(cursor.current));
            const pending = cursor.advance();
            if (pending !== undefined) await pending;
          }
        } catch (error) {
          scanError = error;
        }
        cursor.close();
        expect(isCorruption(scanError), String(scanError)).toBe(true);
        // (A point read of the block's last key before also reads the damaged block, where
        // more of its versions might be; the scan yields that key from its own block.)
        expect(scanned).toEqual(sorted.slice(0, scanned.length).map(plain));
        expect([failed[0], failed[0]! + 1]).toContain(scanned.length);
        await reader.close();
      }, 60_000);
    }
  }
});

describe('blocks around the inflate scratch size', () => {
  it('values whose block inflates to just under, exactly, and just over 64 KiB read exact (declined ones by inflateRawSync)', async () => {
    const sorted: RunEntry[] = [];
    // One large value per block; its size steps by one byte across the scratch size, so
    // some block's raw payload is exactly INFLATE_SCRATCH_BYTES long.
    for (let step = 0; step < 161; step++) {
      const length = INFLATE_SCRATCH_BYTES - 120 + step;
      sorted.push({ key: keyOf(step), version: step + 1, value: Buffer.concat([seeded(256, step + 1), Buffer.alloc(length - 256, step % 251)]) });
    }
    const fileSystem = await freshFileSystem();
    const descriptor = await writeDeflateRun(fileSystem, 2, sorted, new DamagingCompressor(undefined));
    const sizes = new Set<number>();
    const spy = vi.spyOn(zlib, 'inflateRawSync');
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
    for (const entry of sorted) expect(await pointRead(reader, entry.key)).toEqual([plain(entry)]);
    for (const result of spy.mock.results) if (result.type === 'return') sizes.add((result.value as Buffer).length);
    await reader.close();
    // The larger blocks were declined and inflated by inflateRawSync, one of exactly the scratch size.
    expect(sizes.has(INFLATE_SCRATCH_BYTES)).toBe(true);
    expect(Math.max(...sizes)).toBeGreaterThan(INFLATE_SCRATCH_BYTES);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(INFLATE_SCRATCH_BYTES);
    expect(spy.mock.calls.length).toBeLessThan(sorted.length);
  }, 60_000);
});

describe('reads of two cold runs interleaved', () => {
  it('point reads alternating between runs, and two cursors advanced in turn, read exact with nothing cached', async () => {
    const fileSystem = await freshFileSystem();
    const first = entries(2500, undefined, 11);
    const second = entries(2500, undefined, 22);
    const readers = [
      await RunReader.open(fileSystem, RUNS_DIRECTORY, await writeDeflateRun(fileSystem, 3, first, new DamagingCompressor(undefined)), hash, new BlockCache(0)),
      await RunReader.open(fileSystem, RUNS_DIRECTORY, await writeDeflateRun(fileSystem, 4, second, new DamagingCompressor(undefined)), hash, new BlockCache(0)),
    ] as const;
    const inflatedBefore = blockInflater().counters.inflated;
    // Point reads: started together (each run's read may wait on I/O), checked after.
    const pending: Array<Promise<[PlainEntry[], PlainEntry[]]>> = [];
    for (let index = 0; index < 2500; index += 13) {
      const key = keyOf(index);
      const other = keyOf(2499 - index);
      pending.push(Promise.all([pointRead(readers[0], key), pointRead(readers[1], other)]).then(([a, b]) => {
        expect(a).toEqual(modelVersions(first, key));
        expect(b).toEqual(modelVersions(second, other));
        return [a, b];
      }));
    }
    await Promise.all(pending);
    expect(blockInflater().counters.inflated).toBeGreaterThan(inflatedBefore);
    // Two cursors, one forward and one reverse, each advanced one entry in turn.
    const cursors = [await readers[0].cursor({}, false, { fillCache: false }), await readers[1].cursor({}, true, { fillCache: false })] as const;
    const seen: [PlainEntry[], PlainEntry[]] = [[], []];
    while (cursors[0].current !== undefined || cursors[1].current !== undefined) {
      for (const side of [0, 1] as const) {
        const cursor = cursors[side];
        if (cursor.current === undefined) continue;
        seen[side].push(plain(cursor.current));
        const step = cursor.advance();
        if (step !== undefined) await step;
      }
    }
    cursors[0].close();
    cursors[1].close();
    expect(seen[0]).toEqual(first.map(plain));
    expect(seen[1]).toEqual([...second].reverse().map(plain));
    for (const reader of readers) await reader.close();
  }, 60_000);
});

describe('the fallback when the self-test fails', () => {
  const cases: Array<[string, () => void]> = [
    ['the handle is missing', () => {
      vi.spyOn(zlib, 'InflateRaw').mockImplementation(function fake() {
        return {} as zlib.InflateRaw;
      } as unknown as () => zlib.InflateRaw);
    }],
    ['the handle answers wrong bytes', () => {
      const Real = zlib.InflateRaw;
      vi.spyOn(zlib, 'InflateRaw').mockImplementation(function fake() {
        const stream = new Real() as unknown as { _handle: { writeSync: (...args: unknown[]) => void } };
        const writeSync = stream._handle.writeSync.bind(stream._handle);
        stream._handle.writeSync = (...args: unknown[]) => {
          writeSync(...args);
          (args[4] as Buffer).fill(0x5a, 0, 16);
        };
        return stream as unknown as zlib.InflateRaw;
      } as unknown as () => zlib.InflateRaw);
    }],
  ];
  for (const [name, simulate] of cases) {
    it(`${name}: the inflater is not used, and every block is inflated by inflateRawSync, exact`, async () => {
      simulate();
      vi.resetModules();
      // Fresh module instances: the process's shared inflater is made again, under the simulation.
      const inflaterModule = await import('../src/run/block-inflater.js');
      const readerModule = await import('../src/run/run-reader.js');
      const cacheModule = await import('../src/run/block-cache.js');
      const fresh = new inflaterModule.BlockInflater();
      expect(fresh.usable).toBe(false);
      expect(fresh.inflateBlock(zlib.deflateRawSync(Buffer.from('abc')), 'file', 0)).toBeUndefined();
      const sorted = entries(2000, undefined, 33);
      const fileSystem = await freshFileSystem();
      const descriptor = await writeDeflateRun(fileSystem, 5, sorted, new DamagingCompressor(undefined));
      const oneShot = vi.spyOn(zlib, 'inflateRawSync');
      for (const cacheBytes of [0, 64 * 1024 * 1024]) {
        const reader = await readerModule.RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new cacheModule.BlockCache(cacheBytes));
        for (let index = 0; index < sorted.length; index += 7) {
          const found = reader.pointVersions(keyOf(index));
          expect((found instanceof Promise ? await found : found).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
        }
        await reader.close();
      }
      expect(inflaterModule.blockInflater().usable).toBe(false);
      expect(inflaterModule.blockInflater().counters.inflated).toBe(0);
      expect(oneShot).toHaveBeenCalled();
    }, 60_000);
  }
});
