/**
 * Review of the flush thread (issues 7 and 12), part 1: what crosses the thread
 * boundary. Adversarial entry shapes through FlushChunkPacker / unpackFlushChunk
 * (seeded random sequences: every key length up to KEY_BYTES_MAX with bytes up to
 * 0xff, empty values, tombstones, NOT_RETAINED markers, values that exactly fill a
 * chunk or overflow it by one byte, long runs of one key's versions across chunk
 * boundaries), and a run written by the flush thread compared byte for byte with the
 * in-process flush of a memtable of the same shapes (reserved keys included).
 *
 * Deterministic: a fixed seed, no timing.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { FLUSH_CHUNK_BYTES, type FlushChunk, FlushChunkPacker, unpackFlushChunk } from '../src/engine/flush-chunks.js';
import { FlushThread, flushThreadsRunning, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { NOT_RETAINED_BYTE } from '../src/engine/resolve.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { RESERVED_KEY_PREFIX } from '../src/lease/reserved-prefix.js';
import { KEY_BYTES_MAX } from '../src/limits.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { type SealedBlock, writeRun } from '../src/run/run-writer.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

/** flags + version + key length + value length (flush-chunks.ts ENTRY_HEADER_BYTES_MAX). */
const HEADER_BYTES = 15;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(removeTemporaryDirectories);

/** mulberry32: a small deterministic generator (the sequence only has to be fixed). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomKey(random: () => number, length: number): string {
  let key = '';
  for (let index = 0; index < length; index++) key += String.fromCharCode(Math.floor(random() * 256));
  return key;
}

/** A value of `length` bytes (a copy is what the packer must give back). */
function bytesOf(length: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(length).fill(fill & 0xff);
  for (let index = 0; index < Math.min(length, 64); index++) bytes[index] = (fill + index * 31) & 0xff;
  if (length > 0) bytes[length - 1] = (fill * 7) & 0xff;
  return bytes;
}

/** A sequence of entries of every shape; the packer does not need run order, only the same key kept together. */
function adversarialEntries(seed: number): RunEntry[] {
  const random = generator(seed);
  const entries: RunEntry[] = [];
  let version = 2 ** 40;
  for (let keyNumber = 0; keyNumber < 400; keyNumber++) {
    const keyLength = keyNumber % 50 === 0 ? KEY_BYTES_MAX : 1 + Math.floor(random() * (random() < 0.1 ? KEY_BYTES_MAX : 24));
    const key = randomKey(random, keyLength);
    const versions = keyNumber % 37 === 0 ? 2000 + Math.floor(random() * 2000) : 1 + Math.floor(random() * 4);
    for (let number = 0; number < versions; number++) {
      const pick = random();
      let value: Uint8Array | undefined;
      if (pick < 0.1) value = undefined;
      else if (pick < 0.2) value = new Uint8Array(0);
      else if (pick < 0.25) value = Uint8Array.of(NOT_RETAINED_BYTE);
      else if (pick < 0.255) value = bytesOf(FLUSH_CHUNK_BYTES - HEADER_BYTES - key.length, number); // exactly one chunk
      else if (pick < 0.26) value = bytesOf(FLUSH_CHUNK_BYTES - HEADER_BYTES - key.length + 1, number); // one byte over
      else if (pick < 0.262) value = bytesOf(3 * FLUSH_CHUNK_BYTES + Math.floor(random() * 1000), number);
      else value = bytesOf(Math.floor(random() * 600), number);
      entries.push({ key, version: version--, value });
    }
  }
  return entries;
}

function packAll(entries: readonly RunEntry[]): FlushChunk[] {
  const packer = new FlushChunkPacker();
  const chunks: FlushChunk[] = [];
  // One reused entry object, as memtableEntries hands them out.
  const reused: RunEntry = { key: '', version: 0, value: undefined };
  for (const entry of entries) {
    reused.key = entry.key;
    reused.version = entry.version;
    reused.value = entry.value;
    if (packer.add(reused)) continue;
    chunks.push(packer.take());
    expect(packer.add(reused)).toBe(true);
  }
  if (packer.entryCount > 0) chunks.push(packer.take());
  return chunks;
}

describe('flush chunks under adversarial entry shapes', () => {
  it('every entry comes back once, in order, with its key, version and exact bytes; chunks stay within their size', () => {
    for (const seed of [1, 2, 3]) {
      const entries = adversarialEntries(seed);
      const chunks = packAll(entries);
      const unpacked: RunEntry[] = [];
      for (const chunk of chunks) {
        expect(chunk.entryCount).toBeGreaterThan(0);
        if (chunk.entryCount > 1) expect(chunk.byteLength).toBeLessThanOrEqual(FLUSH_CHUNK_BYTES);
        for (const entry of unpackFlushChunk(chunk)) unpacked.push({ key: entry.key, version: entry.version, value: entry.value === undefined ? undefined : Uint8Array.from(entry.value) });
      }
      expect(unpacked.length).toBe(entries.length);
      for (let index = 0; index < entries.length; index++) {
        const expected = entries[index]!;
        const actual = unpacked[index]!;
        if (actual.key !== expected.key || actual.version !== expected.version || (actual.value === undefined) !== (expected.value === undefined)
          || (expected.value !== undefined && !Buffer.from(expected.value).equals(Buffer.from(actual.value!)))) {
          expect({ index, key: actual.key.length, version: actual.version }).toEqual({ index, key: expected.key.length, version: expected.version });
          expect(actual.value).toEqual(expected.value);
        }
      }
      // The shapes this test is about did occur: chunk boundaries inside one key's versions, oversized chunks.
      expect(chunks.length).toBeGreaterThan(20);
      expect(chunks.some((chunk) => chunk.entryCount === 1 && chunk.byteLength > FLUSH_CHUNK_BYTES)).toBe(true);
      expect(chunks.some((chunk) => chunk.byteLength === FLUSH_CHUNK_BYTES)).toBe(true);
    }
  });
});

/**
 * A memtable of the same shapes through MemoryIndex: a key with 3,000 versions of
 * ~200 B (tombstones and empty values among them) spanning chunks, 1,024-byte keys of
 * 0xff bytes, a value that exactly fills a chunk, a value over a chunk, empty values,
 * and chains trimmed by retention (NOT_RETAINED markers) in a second index.
 */
function adversarialMemtable(maxVersionsPerKey: number): MemoryIndex {
  const index = new MemoryIndex(maxVersionsPerKey);
  let version = 0;
  const stored = (value: unknown): IndexOperation['slot'] => prepareValue(value, 1 << 22).stored;
  for (let round = 0; round < 3000; round++) {
    const operations: IndexOperation[] = [];
    const slot = round % 11 === 0 ? TOMBSTONE : round % 13 === 0 ? stored(Buffer.alloc(0)) : stored(Buffer.alloc(150 + (round % 100), round));
    operations.push({ key: internalKey('hot'), slot });
    if (round < 200) {
      const wide = Buffer.alloc(KEY_BYTES_MAX, 0xff);
      wide[KEY_BYTES_MAX - 1] = round;
      operations.push({ key: internalKey(wide), slot: stored(round % 2 === 0 ? '' : Buffer.alloc(round, 0x80)) });
    }
    if (round === 0) {
      operations.push({ key: internalKey('chunk-exact'), slot: stored(Buffer.alloc(FLUSH_CHUNK_BYTES - 64, 1)) });
      operations.push({ key: internalKey('chunk-over'), slot: stored(Buffer.alloc(FLUSH_CHUNK_BYTES + 1, 2)) });
    }
    if (round % 500 === 0) operations.push({ key: internalKey(`trimmed-${round % 3}`), slot: stored({ round }) });
    // Reserved keys (lease records live there): counted in the descriptor's reservedEntryCount.
    if (round % 100 === 0) operations.push({ key: `${RESERVED_KEY_PREFIX}lease/name-${round % 300}`, slot: round % 200 === 0 ? TOMBSTONE : stored({ holder: round }) });
    version++;
    index.apply(version, operations, version);
  }
  return index;
}

function copyBlock(block: SealedBlock): SealedBlock {
  return { ...block, bytes: Buffer.from(block.bytes) };
}

describe('the flush thread against the in-process flush on adversarial memtables', () => {
  it('identical run files, descriptors and sealed blocks (many versions of one key across chunks, 1 KiB keys, chunk-sized values, retention markers)', async () => {
    const hash = await loadHash64();
    const fileSystem = new NodeFileSystem();
    const thread = new FlushThread();
    let runId = 20;
    for (const maxVersionsPerKey of [5000, 3]) {
      const index = adversarialMemtable(maxVersionsPerKey);
      runId++;
      const inProcess = temporaryDirectory();
      const threaded = temporaryDirectory();
      const blocksInProcess: SealedBlock[] = [];
      const expected = await writeRun({
        fileSystem, runsDirectory: inProcess, runId, generation: 987654321, level: 0, hash, entries: memtableEntries(index),
        onBlockSealed: (block) => blocksInProcess.push(copyBlock(block)),
      });
      const outcome = await thread.flush({ runsDirectory: threaded, runId, generation: 987654321, level: 0, keepDataBytes: 1 << 30 }, memtableEntries(index));
      await installTemporaryRun(fileSystem, threaded, runId); // the main side's half (run-install.ts)
      expect(outcome.descriptor).toEqual(expected);
      expect(expected.reservedEntryCount).toBeGreaterThan(0);
      expect(readdirSync(threaded)).toEqual([expected.fileName]);
      expect(readFileSync(join(threaded, expected.fileName)).equals(readFileSync(join(inProcess, expected.fileName)))).toBe(true);
      expect(outcome.blocks).toEqual(blocksInProcess);
      // memtableEntries reuses one entry object: count while walking.
      let entries = 0;
      let markers = 0;
      for (const entry of memtableEntries(index)) {
        entries++;
        if (entry.value?.length === 1 && entry.value[0] === NOT_RETAINED_BYTE) markers++;
      }
      expect(expected.entryCount).toBe(entries);
      if (maxVersionsPerKey === 3) {
        // Retention trimmed the hot key: its NOT_RETAINED marker crossed too.
        expect(markers).toBeGreaterThan(0);
      } else {
        expect(expected.entryCount).toBeGreaterThan(3000 + 200);
      }
    }
    await thread.close();
    expect(flushThreadsRunning()).toBe(0);
  }, 120_000);
});
