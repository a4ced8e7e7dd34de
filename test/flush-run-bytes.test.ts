/**
 * A flush writes exactly the run a plain reading of the memtable gives (issue 7,
 * cheaper flushes): memtableEntries and MemoryIndex#orderedChains may take short
 * cuts (their own key sort, chains kept beside the waiting keys, one reused entry
 * object), but the run file must be byte for byte the file written from the
 * reference order: every key once, ascending by `<` on internal keys, each chain's
 * versions newest first, tombstones, and a NOT_RETAINED marker for a trimmed chain.
 * The generation is fixed, so the two files are comparable byte for byte.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { encodeStored } from '../src/codec/values.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { NOT_RETAINED_BYTE } from '../src/engine/resolve.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';

/**
 * SHA-256 prefixes of the runs of seeds 1-3 as the writer since run format 5 writes them
 * (kind-1 filter partitions, footer version 5). 9ed136f's flush, format 3 with kind-0
 * filters, wrote 28efec0eee659829, b684dff0e7287770, a81f809892e327e5.
 */
const GOLDEN_DIGESTS = ['d10d5be94cd60eed', 'c715e8df6940b4e5', '1b00e06c983ae72d'];

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
 * Keys of every shape the sort must order as `<` does: random binary (any byte
 * 0-255), a long shared prefix, keys that are prefixes of others, one-char keys,
 * reserved-prefix keys.
 */
function keyFor(random: () => number, number: number): string {
  const shape = number % 5;
  const randomChars = (count: number) => Array.from({ length: count }, () => String.fromCharCode(random() & 0xff)).join('');
  if (shape === 0) return randomChars(1 + (random() % 16));
  if (shape === 1) return `user/000${(random() % 5000).toString().padStart(6, '0')}`;
  if (shape === 2) return `user/000${(random() % 500).toString()}`;
  if (shape === 3) return random() % 8 === 0 ? `long/${randomChars(60 + (random() % 200))}` : `\u0000ladybug/lease/${randomChars(random() % 3)}`;
  return randomChars(random() % 2 === 0 ? 1 : 2);
}

/** A memtable of `operationCount` writes: puts, tombstones, rewrites, trimmed chains (4 versions kept). */
function memtableOf(seed: number, operationCount: number): { index: MemoryIndex; keys: Set<string> } {
  const random = generator(seed);
  const index = new MemoryIndex(4);
  const keys = new Set<string>();
  const recent: string[] = [];
  for (let number = 0; number < operationCount; number++) {
    const rewrite = recent.length > 0 && random() % 3 === 0;
    const key = rewrite ? recent[random() % recent.length]! : keyFor(random, number);
    if (!rewrite) recent.push(key);
    if (recent.length > 64) recent.shift();
    keys.add(key);
    const slot = random() % 7 === 0 ? TOMBSTONE : random() % 2 === 0 ? `value ${number}` : number;
    // Pinned at 1: retention may trim everything but the newest versions.
    index.apply(index.appliedVersion + 1, [{ key, slot }], random() % 4 === 0 ? 1 : index.appliedVersion + 1);
  }
  return { index, keys };
}

/** The reference: keys sorted by `<`, each chain read through the map, a fresh entry each. */
function referenceEntries(index: MemoryIndex, keys: Set<string>): RunEntry[] {
  const entries: RunEntry[] = [];
  const sorted = [...keys].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
  for (const key of sorted) {
    const chain = index.chain(key)!;
    for (let position = chain.length - 1; position >= 0; position--) {
      const slot = chain.slotAt(position);
      entries.push({ key, version: chain.versionAt(position), value: slot === TOMBSTONE ? undefined : encodeStored(slot) });
    }
    if (chain.trimmedBelow !== 0 && chain.firstVersion < chain.versionAt(0)) {
      entries.push({ key, version: chain.firstVersion, value: Uint8Array.of(NOT_RETAINED_BYTE) });
    }
  }
  return entries;
}

/** memtableEntries as a list of copies (the generator may reuse one entry object). */
function flushedEntries(index: MemoryIndex): RunEntry[] {
  const entries: RunEntry[] = [];
  for (const entry of memtableEntries(index)) entries.push({ key: entry.key, version: entry.version, value: entry.value === undefined ? undefined : entry.value.slice() });
  return entries;
}

async function runBytes(hash: Hash64, entries: Iterable<RunEntry>): Promise<Uint8Array> {
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir('/runs');
  const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 0x5eed, level: 0, hash, entries });
  return await fileSystem.readFile(`/runs/${descriptor.fileName}`);
}

describe('flush: the run written from a memtable', () => {
  it('holds exactly the reference entries, and its file bytes equal the reference run', async () => {
    const hash = await loadHash64();
    const digests: string[] = [];
    for (const seed of [1, 2, 3]) {
      const { index, keys } = memtableOf(seed, 30_000);
      const reference = referenceEntries(index, keys);
      expect(reference.some((entry) => entry.value === undefined)).toBe(true);
      expect(reference.some((entry) => entry.value?.length === 1 && entry.value[0] === NOT_RETAINED_BYTE)).toBe(true);
      expect(flushedEntries(index)).toEqual(reference);
      const flushed = await runBytes(hash, memtableEntries(index));
      expect(Buffer.compare(flushed, await runBytes(hash, reference))).toBe(0);
      digests.push(createHash('sha256').update(flushed).digest('hex').slice(0, 16));
    }
    // The files the writer of format 5 wrote for these memtables: the entry encoding
    // and the filter hashing must not change a byte either (a deliberate format change
    // updates these digests, with a changelog entry in docs/FORMAT.md).
    expect(digests).toEqual(GOLDEN_DIGESTS);
  });

  it('is the same whether or not a scan ordered the memtable first, and after more writes', async () => {
    const hash = await loadHash64();
    const { index, keys } = memtableOf(4, 10_000);
    index.chainsChunk({}, undefined, false, 1); // builds the tree
    const more = memtableOf(5, 3_000);
    for (const key of more.keys) {
      keys.add(key);
      index.apply(index.appliedVersion + 1, [{ key, slot: `later ${key.length}` }], index.appliedVersion + 1);
    }
    const reference = referenceEntries(index, keys);
    expect(flushedEntries(index)).toEqual(reference);
    expect(Buffer.compare(await runBytes(hash, memtableEntries(index)), await runBytes(hash, reference))).toBe(0);
  });
});
