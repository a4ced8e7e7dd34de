/**
 * Point lookups across many runs on a fixed layout (issue 7: the per-run cost of a
 * uniform get; not part of `npm run bench`, run by hand for before/after comparisons):
 *
 *   node dist/bench/large/run-probe.js <directory> [runCount] [keysPerRun] [lookups] [cacheMebibytes] [absent|present]
 *
 * A store's run layout after a load depends on when its compactions ran, so two
 * builds' stores differ in run count and their get figures mostly measure that. Here
 * the layout is fixed: runCount runs written once into `directory` by this build's
 * writer (run r holds the keys whose index is r mod runCount, so every run spans the
 * whole key range, like the flushes of a random-order load), opened with one
 * BlockCache of cacheMebibytes, then `lookups` seeded uniform keys looked up newest
 * run first, one KeyProbe per key, stopping at the first run with an entry (as a
 * read view does). `absent` looks up keys that are in no run: every run's range
 * check, top-level search and filter, and a data block read per false positive.
 * Prints one JSON line: lookups/s and CPU microseconds per lookup.
 *
 * Comparing builds: give each build its own directory (the run files are its own
 * writer's), run them alternately, several times each.
 *
 * Invariant: every present key is found and no absent key is (else it throws).
 */
import { Buffer } from 'node:buffer';
import { loadHash64 } from '../../src/codec/checksum.js';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { KeyProbe } from '../../src/run/bloom-filter.js';
import { BlockCache } from '../../src/run/block-cache.js';
import type { RunEntry } from '../../src/run/run-descriptor.js';
import { RunReader } from '../../src/run/run-reader.js';
import type { Hash64 } from '../../src/wal/wal-format.js';
import { loadOrWriteLayout } from './run-layout.js';

const MEBIBYTE = 1024 * 1024;
const VALUE_BYTES = 100;
const WARM_UP_LOOKUPS_MAX = 20_000;

/** Key `index`: 19 chars, scattered over the key space by a multiplicative hash, unique by its index suffix. */
function keyOf(index: number): string {
  return `k${String(Math.imul(index, 0x9e3779b1) >>> 0).padStart(10, '0')}${String(index).padStart(8, '0')}`;
}

/** The first run (newest first) with an entry for `key`: its newest entry, or undefined. */
async function lookup(readers: readonly RunReader[], hash: Hash64, key: string): Promise<RunEntry | undefined> {
  const probe = KeyProbe.of(hash, key);
  for (const reader of readers) {
    let found = reader.pointVersions(key, probe);
    if (found instanceof Promise) found = await found;
    if (found.length > 0) return found[0];
  }
  return undefined;
}

/** A seeded xorshift32 stream of indexes below `bound`. */
function seededIndexes(count: number, bound: number): Uint32Array {
  const indexes = new Uint32Array(count);
  let state = 987_654_321;
  for (let position = 0; position < count; position++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    indexes[position] = state % bound;
  }
  return indexes;
}

async function main(): Promise<void> {
  const [directory, runCountText = '40', keysPerRunText = '25000', lookupsText = '200000', cacheText = '64', mode = 'present'] = process.argv.slice(2);
  if (directory === undefined || (mode !== 'absent' && mode !== 'present')) throw new Error('usage: run-probe.js <directory> [runCount] [keysPerRun] [lookups] [cacheMebibytes] [absent|present]');
  const runCount = Number(runCountText);
  const keysPerRun = Number(keysPerRunText);
  const lookups = Number(lookupsText);
  const hash = await loadHash64();
  const descriptors = await loadOrWriteLayout(directory, hash, runCount, keysPerRun, keyOf, Buffer.alloc(VALUE_BYTES, 7));
  const cache = new BlockCache(Number(cacheText) * MEBIBYTE);
  const fileSystem = new NodeFileSystem();
  const readers: RunReader[] = [];
  for (const descriptor of descriptors) readers.push(await RunReader.open(fileSystem, directory, descriptor, hash, cache));
  readers.reverse(); // newest first
  const suffix = mode === 'absent' ? 'x' : '';
  const keys = Array.from(seededIndexes(lookups, runCount * keysPerRun), (index) => keyOf(index) + suffix);
  for (let position = 0; position < Math.min(WARM_UP_LOOKUPS_MAX, lookups); position++) await lookup(readers, hash, keys[position]!);
  const cpuStart = process.cpuUsage();
  const startMs = performance.now();
  let found = 0;
  for (const key of keys) if ((await lookup(readers, hash, key)) !== undefined) found += 1;
  const durationMs = performance.now() - startMs;
  const cpu = process.cpuUsage(cpuStart);
  if (found !== (mode === 'absent' ? 0 : lookups)) throw new Error(`${found} of ${lookups} ${mode} keys found`);
  for (const reader of readers) await reader.close();
  const cpuMicrosPerLookup = (cpu.user + cpu.system) / lookups;
  process.stdout.write(`${JSON.stringify({ mode, runCount, keysPerRun, lookups, lookupsPerSecond: Math.round((lookups * 1_000) / durationMs), cpuMicrosPerLookup: Number(cpuMicrosPerLookup.toFixed(2)) })}\n`);
}

await main();
