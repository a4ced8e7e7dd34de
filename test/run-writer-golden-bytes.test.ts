/**
 * The run writer's output, byte for byte, from fixed inputs of every shape it handles
 * (issues 7 and 12: work per entry and per block is taken out of the writer, and not one
 * byte it writes may change). Each case digests the file (SHA-256), the descriptor and
 * what onBlockSealed is told (kind, offset, payload length, entry count and the sealed
 * bytes), and the digests must equal those recorded from the writer of 0227588, before
 * that work began.
 *
 * Shapes: 100 B values (one and several partitions), large values (two-page blocks, a
 * value past the kept block buffer, near the block limit), many versions per key (a
 * key's versions spanning blocks, and the partition cut at a key boundary), tombstones
 * only and mixed, long and short keys of any byte (the writers' short-key and
 * Buffer#write paths), reserved keys, versions up to VERSION_MAX, a single entry,
 * K = 2 and K = 5 stripes, a write chunk kept across runs, the compressed cold tier
 * (deflate, gzip, brotli; inline and through a batching compressor) and the three
 * entry sources (array, async iterable, batches; one reused entry object).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { VERSION_MAX } from '../src/limits.js';
import { compressPayload } from '../src/run/block-compression.js';
import type { BlockCompressor } from '../src/run/compression-pool.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionName, RunCompressionValue } from '../src/run/run-format.js';
import { type EntryBatches, type WriteRunOptions, writeRun } from '../src/run/run-writer.js';
import type { StripedChunkHolder } from '../src/stripe/striped-output.js';

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

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = random() & 0xff;
  return bytes;
}

function randomChars(random: () => number, count: number): string {
  let text = '';
  for (let index = 0; index < count; index++) text += String.fromCharCode(random() & 0xff);
  return text;
}

const byKey = (left: { key: string }, right: { key: string }): number => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0);

/** Distinct keys (any byte), sorted, each with `versionsOf()` versions newest first; `valueOf` undefined is a tombstone. */
function entriesOf(
  random: () => number,
  keyCount: number,
  keyOf: (number: number) => string,
  versionsOf: () => number,
  valueOf: (number: number) => Uint8Array | undefined,
): RunEntry[] {
  const keys = new Map<string, number>();
  for (let number = 0; keys.size < keyCount; number++) {
    const key = keyOf(number);
    if (!keys.has(key)) keys.set(key, number);
  }
  const sorted = [...keys.keys()].map((key) => ({ key })).sort(byKey);
  const entries: RunEntry[] = [];
  let version = 1 + (random() % 1000);
  for (const { key } of sorted) {
    const count = versionsOf();
    const versions: number[] = [];
    for (let index = 0; index < count; index++) versions.push((version += 1 + (random() % 3)));
    for (let index = count - 1; index >= 0; index--) entries.push({ key, version: versions[index]!, value: valueOf(entries.length) });
  }
  return entries;
}

const binaryKey = (random: () => number) => (_number: number) => randomChars(random, 16);

interface Case {
  name: string;
  entries: () => RunEntry[];
  options?: Partial<WriteRunOptions>;
  source?: 'array' | 'async' | 'batches' | 'reused';
}

/** A compressor with compressBatch (as the thread pool), compressing inline: the shipper's gathering path. */
class BatchingCompressor implements BlockCompressor {
  readonly parallelism = 2;
  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    return compressPayload(compression, payload);
  }
  async compressBatch(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    await new Promise((resolve) => setImmediate(resolve));
    return payloads.map((payload) => compressPayload(compression, payload));
  }
}

const hundredBytes = (seed: number, keys: number) => () => {
  const random = generator(seed);
  return entriesOf(random, keys, binaryKey(random), () => 1, () => randomBytes(random, 100));
};

const mixedShapes = (seed: number) => () => {
  const random = generator(seed);
  const keyOf = (number: number): string => {
    const shape = number % 6;
    if (shape === 0) return randomChars(random, 1 + (random() % 16));
    if (shape === 1) return `user/${(random() % 50_000).toString().padStart(6, '0')}`;
    if (shape === 2) return `\u0000ladybug/lease/${randomChars(random, 1 + (random() % 4))}`;
    if (shape === 3) return `long/${randomChars(random, 60 + (random() % 300))}`;
    if (shape === 4) return `huge/${randomChars(random, 900 + (random() % 120))}`;
    return randomChars(random, 1 + (random() % 2));
  };
  const valueOf = (): Uint8Array | undefined => {
    const pick = random() % 10;
    if (pick === 0) return undefined;
    if (pick === 1) return new Uint8Array(0);
    if (pick === 2) return randomBytes(random, 4096);
    return randomBytes(random, random() % 300);
  };
  return entriesOf(random, 6_000, keyOf, () => (random() % 5 === 0 ? 1 + (random() % 6) : 1), valueOf);
};

const CASES: Case[] = [
  { name: '100 B values, 400 keys (one partition)', entries: hundredBytes(1, 400) },
  { name: '100 B values, 30,000 keys (many partitions)', entries: hundredBytes(2, 30_000) },
  { name: '100 B values through an async iterable', entries: hundredBytes(3, 9_000), source: 'async' },
  { name: '100 B values in batches', entries: hundredBytes(3, 9_000), source: 'batches' },
  { name: '100 B values from one reused entry object', entries: hundredBytes(3, 9_000), source: 'reused' },
  {
    name: 'large values',
    entries: () => {
      const random = generator(4);
      const sizes = [4096, 4000, 8192, 70_000, 1, 4096, 200_000, 12_000, 4080, 1_000_000, 3000, 60_000];
      return entriesOf(random, 300, (number) => `large/${number.toString().padStart(5, '0')}`, () => 1 + (random() % 2), (number) => (number % 11 === 5 ? undefined : randomBytes(random, sizes[number % sizes.length]!)));
    },
  },
  {
    name: 'many versions per key',
    entries: () => {
      const random = generator(5);
      return entriesOf(random, 120, (number) => `k${(number * 7919).toString(36)}`, () => 1 + (random() % 400), () => (random() % 6 === 0 ? undefined : randomBytes(random, 20 + (random() % 80))));
    },
  },
  {
    name: 'tombstones only',
    entries: () => {
      const random = generator(6);
      return entriesOf(random, 40_000, binaryKey(random), () => 1 + (random() % 2), () => undefined);
    },
  },
  { name: 'mixed keys, values and tombstones', entries: mixedShapes(7) },
  { name: 'mixed shapes, K = 2', entries: mixedShapes(8), options: { stripeDataPages: 2 } },
  { name: 'mixed shapes, K = 5', entries: mixedShapes(9), options: { stripeDataPages: 5 } },
  {
    name: 'versions up to VERSION_MAX',
    entries: () => {
      const random = generator(10);
      const entries: RunEntry[] = [];
      for (let number = 0; number < 500; number++) {
        const key = `v/${number.toString().padStart(4, '0')}`;
        entries.push({ key, version: VERSION_MAX - number, value: randomBytes(random, number % 50) });
        entries.push({ key, version: 2 ** 32 + number, value: undefined });
        entries.push({ key, version: 2 ** 32 - 1 - number, value: randomBytes(random, 3) });
        entries.push({ key, version: number, value: randomBytes(random, 1) });
      }
      return entries;
    },
  },
  { name: 'one entry', entries: () => [{ key: 'only', version: 7, value: Uint8Array.of(1, 2, 3) }] },
  { name: 'one tombstone', entries: () => [{ key: '\u00ff', version: 0, value: undefined }] },
  { name: 'cold tier: deflate, 100 B values', entries: hundredBytes(11, 20_000), options: { compression: 'deflate' } },
  { name: 'cold tier: deflate, mixed shapes', entries: mixedShapes(12), options: { compression: 'deflate' } },
  { name: 'cold tier: deflate through a batching compressor', entries: hundredBytes(13, 12_000), options: { compression: 'deflate', compressor: new BatchingCompressor() } },
  { name: 'cold tier: gzip, 16 KiB blocks', entries: mixedShapes(14), options: { compression: 'gzip', compressedBlockTargetBytes: 16 * 1024 } },
  { name: 'cold tier: brotli', entries: hundredBytes(15, 3_000), options: { compression: 'brotli' } },
];

async function* asyncEntries(entries: readonly RunEntry[]): AsyncGenerator<RunEntry> {
  for (const entry of entries) yield entry;
}

/** The entries as batches of uneven sizes, each a fresh array (as mergeRunBatches gives them). */
function batchesOf(entries: readonly RunEntry[]): EntryBatches {
  return {
    batches: (async function* () {
      const random = generator(99);
      for (let start = 0; start < entries.length; ) {
        const end = Math.min(entries.length, start + 1 + (random() % 700));
        yield entries.slice(start, end);
        start = end;
      }
    })(),
  };
}

/** The entries through one reused object whose value bytes are overwritten after each (as memtableEntries reuses one). */
function* reusedEntries(entries: readonly RunEntry[]): Generator<RunEntry> {
  const entry: RunEntry = { key: '', version: 0, value: undefined };
  let scratch = new Uint8Array(0);
  for (const source of entries) {
    entry.key = source.key;
    entry.version = source.version;
    if (source.value === undefined) entry.value = undefined;
    else {
      if (scratch.length < source.value.length) scratch = new Uint8Array(source.value.length);
      scratch.set(source.value);
      entry.value = scratch.subarray(0, source.value.length);
    }
    yield entry;
    scratch.fill(0xee);
  }
}

/** A case's digest, and how many blocks of each kind it sealed (the shape checks). */
async function caseDigest(testCase: Case, writeChunk?: StripedChunkHolder): Promise<string> {
  return (await writeCase(testCase, writeChunk)).digest;
}

async function writeCase(testCase: Case, writeChunk?: StripedChunkHolder): Promise<{ digest: string; blocks: Record<string, number> }> {
  const hash = await loadHash64();
  const fileSystem = new FaultFileSystem(3);
  await fileSystem.mkdir('/runs');
  const entries = testCase.entries();
  const source = testCase.source ?? 'array';
  const sealed = createHash('sha256');
  const blocks: Record<string, number> = { data: 0, index: 0, filter: 0 };
  const descriptor = await writeRun({
    fileSystem,
    runsDirectory: '/runs',
    runId: 41,
    generation: 0xc0ffee,
    level: 3,
    hash,
    entries: source === 'async' ? asyncEntries(entries) : source === 'batches' ? batchesOf(entries) : source === 'reused' ? reusedEntries(entries) : entries,
    onBlockSealed: (block) => {
      blocks[block.kind]!++;
      sealed.update(`${block.kind} ${block.offset} ${block.payloadBytes} ${block.entryCount} ${block.bytes.length}\n`);
      sealed.update(block.bytes);
    },
    writeChunk,
    ...testCase.options,
  });
  const file = await fileSystem.readFile(`/runs/${descriptor.fileName}`);
  const digest = createHash('sha256').update(file).update(JSON.stringify(descriptor)).update(sealed.digest()).digest('hex').slice(0, 16);
  return { digest, blocks };
}

/** Recorded from 0227588's writer (before the per-entry and per-block work was taken out). */
const GOLDEN: Record<string, string> = {
  '100 B values, 400 keys (one partition)': 'db55086498aa2e76',
  '100 B values, 30,000 keys (many partitions)': 'f3ea242dc242dab9',
  '100 B values through an async iterable': 'bc251b153fde2263',
  '100 B values in batches': 'bc251b153fde2263',
  '100 B values from one reused entry object': 'bc251b153fde2263',
  'large values': '8de53b1fea19413a',
  'many versions per key': '44dc221618547dd7',
  'tombstones only': 'fd4f49f02ce393c2',
  'mixed keys, values and tombstones': 'bcea5fd1df58a927',
  'mixed shapes, K = 2': 'fbc2a26585b9061c',
  'mixed shapes, K = 5': 'fd8e7d2cf2accaa3',
  'versions up to VERSION_MAX': '38518eff53ce126c',
  'one entry': '10d83f0c12c73e4d',
  'one tombstone': '42e2ae230ace4310',
  'cold tier: deflate, 100 B values': 'b8013d9e890a369f',
  'cold tier: deflate, mixed shapes': '8f370cbf86078caa',
  'cold tier: deflate through a batching compressor': 'e28b9d20d123bcf5',
  'cold tier: gzip, 16 KiB blocks': '5fe4d6cd8926b5f0',
  'cold tier: brotli': '3662224aee84e9ab',
};

describe('run writer: the bytes of fixed inputs', () => {
  for (const testCase of CASES) {
    it(testCase.name, async () => {
      const digest = await caseDigest(testCase);
      if (process.env['LADYBUG_PRINT_GOLDEN'] !== undefined) console.log(`GOLDEN ${JSON.stringify(testCase.name)}: '${digest}',`);
      expect(digest).toBe(GOLDEN[testCase.name]);
    });
  }

  it('a write chunk kept across runs writes the same bytes', async () => {
    const holder: StripedChunkHolder = { chunk: undefined };
    for (const name of ['mixed shapes, K = 5', '100 B values, 30,000 keys (many partitions)', 'cold tier: deflate, mixed shapes', 'large values']) {
      const testCase = CASES.find((candidate) => candidate.name === name)!;
      expect(await caseDigest(testCase, holder)).toBe(GOLDEN[name]);
    }
  });

  it('covers the shapes it names', async () => {
    const shape = async (name: string) => (await writeCase(CASES.find((candidate) => candidate.name === name)!)).blocks;
    expect((await shape('100 B values, 400 keys (one partition)')).index).toBe(1);
    expect((await shape('100 B values, 30,000 keys (many partitions)')).index).toBeGreaterThan(5);
    expect((await shape('many versions per key')).index).toBeGreaterThan(1);
    expect((await shape('mixed keys, values and tombstones')).index).toBeGreaterThan(5);
    expect((await shape('cold tier: deflate, 100 B values')).index).toBeGreaterThan(1);
    const compressions = new Set(CASES.map((testCase) => (testCase.options?.compression ?? 'none') as RunCompressionName));
    expect([...compressions].sort()).toEqual(['brotli', 'deflate', 'gzip', 'none']);
  });
});
