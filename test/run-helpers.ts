/**
 * Shared helpers of the run-file tests (test/run-*.test.ts): writing a run into a
 * FaultFileSystem, the plain sorted-array model, and draining cursors.
 */
import { Buffer } from 'node:buffer';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { makeDurableDirectory } from './helpers.js';
import type { KeyRange } from '../src/memory/memory-index.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import type { RunCursor } from '../src/run/run-cursor.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { decodeDataBlock, type DecodedBlock } from '../src/run/data-block.js';
import type { Hash64 } from '../src/wal/wal-format.js';

export const RUNS_DIRECTORY = '/store/runs';

/**
 * A FaultFileSystem holding RUNS_DIRECTORY with every entry leading to it durable
 * (runs/ in /store, store in the root), as a store's open leaves them: a crash image
 * then keeps whatever the workload made durable under runs/ in every crash mode.
 */
export async function freshFileSystem(): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem();
  await makeDurableDirectory(fileSystem, RUNS_DIRECTORY);
  return fileSystem;
}

/** Sorts entries into run order (key ascending, version descending). */
export function runOrder(entries: RunEntry[]): RunEntry[] {
  return [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : b.version - a.version));
}

export interface WrittenRun {
  fileSystem: FaultFileSystem;
  descriptor: RunDescriptor;
  reader: RunReader;
  cache: BlockCache;
}

export async function writeAndOpen(
  hash: Hash64,
  entries: RunEntry[],
  options: { runId?: number; generation?: number; cacheBytes?: number; fileSystem?: FaultFileSystem } = {},
): Promise<WrittenRun> {
  const fileSystem = options.fileSystem ?? (await freshFileSystem());
  const descriptor = await writeRun({
    fileSystem,
    runsDirectory: RUNS_DIRECTORY,
    runId: options.runId ?? 1,
    generation: options.generation ?? 12345,
    level: 0,
    hash,
    entries,
  });
  const cache = new BlockCache(options.cacheBytes ?? 1024 * 1024);
  const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
  return { fileSystem, descriptor, reader, cache };
}

/** A comparable copy of an entry (values as hex, so a view into a block is copied). */
export interface PlainEntry {
  key: string;
  version: number;
  value: string | null;
}

export function plain(entry: RunEntry): PlainEntry {
  return { key: entry.key, version: entry.version, value: entry.value === undefined ? null : Buffer.from(entry.value).toString('hex') };
}

export async function drain(cursor: RunCursor): Promise<PlainEntry[]> {
  const result: PlainEntry[] = [];
  while (cursor.current !== undefined) {
    result.push(plain(cursor.current));
    const pending = cursor.advance();
    if (pending !== undefined) await pending;
  }
  cursor.close();
  return result;
}

export function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && key <= range.gt) return false;
  if (range.gte !== undefined && key < range.gte) return false;
  if (range.lt !== undefined && key >= range.lt) return false;
  if (range.lte !== undefined && key > range.lte) return false;
  return true;
}

/** The model's scan: forward is run order; reverse is keys descending, each key's versions newest first. */
export function modelScan(sorted: RunEntry[], range: KeyRange, reverse: boolean): PlainEntry[] {
  const selected = sorted.filter((entry) => inRange(entry.key, range)).map(plain);
  if (!reverse) return selected;
  const groups: PlainEntry[][] = [];
  for (const entry of selected) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0]?.key === entry.key) last.push(entry);
    else groups.push([entry]);
  }
  return groups.reverse().flat();
}

export function modelVersions(sorted: RunEntry[], key: string): PlainEntry[] {
  return sorted.filter((entry) => entry.key === key).map(plain);
}

export function modelAsOf(sorted: RunEntry[], key: string, version: number): PlainEntry | undefined {
  const found = sorted.find((entry) => entry.key === key && entry.version <= version);
  return found === undefined ? undefined : plain(found);
}

/** `count` entries with keys key-000000.. and `versionsPerKey` versions each, values of `valueBytes`. */
export function simpleEntries(keyCount: number, versionsPerKey = 1, valueBytes = 20): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let key = 0; key < keyCount; key++) {
    for (let version = versionsPerKey; version >= 1; version--) {
      const value = Buffer.alloc(valueBytes, (key * 7 + version) % 251);
      entries.push({ key: `key-${String(key).padStart(6, '0')}`, version: key * 1000 + version, value: version % 5 === 0 ? undefined : value });
    }
  }
  return entries;
}

/** A decoded one-entry data block of `valueBytes` (the block cache tests: the cache only looks at sizeBytes). */
export function fakeBlock(valueBytes: number): DecodedBlock {
  const bytes = Buffer.alloc(4096);
  const payload = 2 + 1 + 1 + 8 + 4 + valueBytes;
  bytes.writeUInt16LE(1, 16);
  bytes.write('k', 18, 'latin1');
  bytes[19] = 1;
  bytes.writeUInt32LE(valueBytes, 28);
  return decodeDataBlock('test', 0, bytes, payload, 1);
}
