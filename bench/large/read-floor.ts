/**
 * The floor under issue 7's uniform-get target, on this machine: what the least work a
 * point read of a store larger than its memory budget must do costs in Node, step by
 * step, with no engine around it (not part of `npm run bench`; run by hand):
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/large/read-floor.js [directory]
 *
 * Steps, each timed over ROUNDS rounds of OPERATIONS calls (the fastest round reported,
 * so the machine's other load inflates it least):
 * - `readSync`: fs.readSync of one 4 KiB block at a random 4 KiB-aligned offset of a
 *   FILE_BYTES file that is in the page cache (read once first): the file read of a
 *   block the cache does not hold;
 * - `checksum`: the store's Hash64 (src/codec/checksum.ts) of those 4 KiB: the check
 *   every block read passes;
 * - `map lookup`: Map#get of a random one of KEY_COUNT 16-character keys (the shape of
 *   the point cache and of the memtable's key map), the key string made per call from
 *   its bytes as a get makes it (src/codec/keys.ts internalKeyFromBytes);
 * - `await`: awaiting an already-resolved promise (what `await store.get()` adds to a
 *   read answered on the calling thread).
 *
 * Then the floor: a uniform read misses memory with probability 1 - cacheShare
 * (the share of the data the budget's caches can hold) and pays read + checksum, and
 * every read pays at least one lookup and the await; `missShare` is an argument of the
 * estimate printed, not measured. The estimate leaves out everything an engine adds
 * (the key's encoding, the index and filter search, the block's decode and search, the
 * value's copy and decode, garbage collection), so a real engine is slower than it.
 * Prints one JSON line.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHash64 } from '../../src/codec/checksum.js';
import { internalKeyFromBytes } from '../../src/codec/keys.js';

const BLOCK_BYTES = 4096;
const FILE_BYTES = 128 * 1024 * 1024;
const KEY_COUNT = 1_000_000;
const OPERATIONS = 400_000;
const ROUNDS = 5;
/** Memory misses of a uniform get on the benchmark's 1M keys over 64 MiB: the caches hold about half the data. */
const MISS_SHARES = [0.25, 0.5];

/** Fastest of ROUNDS rounds of `step(i)` for i in 0..OPERATIONS-1, in ns per call. */
function fastestNs(step: (position: number) => number): number {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let position = 0; position < OPERATIONS; position++) sink += step(position);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / OPERATIONS);
  }
  if (sink === -1) console.log('unreachable'); // keeps the steps' results alive
  return best;
}

async function fastestAwaitNs(): Promise<number> {
  const resolved = Promise.resolve(1);
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let position = 0; position < OPERATIONS; position++) await resolved;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / OPERATIONS);
  }
  return best;
}

/** A seeded sequence of block numbers (xorshift32), the same every run. */
function randomBlocks(count: number, blocks: number): Uint32Array {
  const numbers = new Uint32Array(count);
  let state = 0x9e3779b9;
  for (let position = 0; position < count; position++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    numbers[position] = (state >>> 0) % blocks;
  }
  return numbers;
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'read-floor-'));
  const path = join(directory, 'blocks');
  try {
    const fill = Buffer.alloc(1024 * 1024);
    for (let index = 0; index < fill.length; index++) fill[index] = (index * 131) & 0xff;
    const writer = openSync(path, 'w');
    for (let written = 0; written < FILE_BYTES; written += fill.length) writeSync(writer, fill);
    closeSync(writer);
    const descriptor = openSync(path, 'r');
    const block = Buffer.allocUnsafe(BLOCK_BYTES);
    const blockCount = FILE_BYTES / BLOCK_BYTES;
    for (let number = 0; number < blockCount; number++) readSync(descriptor, block, 0, BLOCK_BYTES, number * BLOCK_BYTES);
    const offsets = randomBlocks(OPERATIONS, blockCount);
    const readNs = fastestNs((position) => readSync(descriptor, block, 0, BLOCK_BYTES, (offsets[position] as number) * BLOCK_BYTES));
    closeSync(descriptor);

    const hash = await loadHash64();
    const checksumNs = fastestNs(() => Number(hash(block) & 1n));

    const keyOf = (index: number): string => `k${index.toString(16).padStart(15, '0')}`;
    const map = new Map<string, number>();
    for (let index = 0; index < KEY_COUNT; index++) map.set(keyOf(index), index);
    const keyIndexes = randomBlocks(OPERATIONS, KEY_COUNT);
    const keys = Array.from(keyIndexes, (index) => Buffer.from(keyOf(index), 'latin1'));
    const lookupNs = fastestNs((position) => map.get(internalKeyFromBytes(keys[position] as Buffer)) ?? 0);

    const awaitNs = await fastestAwaitNs();
    const floors = Object.fromEntries(MISS_SHARES.map((share) => {
      const ns = share * (readNs + checksumNs) + lookupNs + awaitNs;
      return [`missShare${share}`, { nsPerGet: Math.round(ns), getsPerSecond: Math.round(1e9 / ns) }];
    }));
    console.log(JSON.stringify({
      bench: 'read-floor', readSyncNs: Math.round(readNs), checksumNs: Math.round(checksumNs), mapLookupNs: Math.round(lookupNs), awaitNs: Math.round(awaitNs), floors,
    }));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
