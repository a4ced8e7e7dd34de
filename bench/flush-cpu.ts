/**
 * CPU of one memtable flush per key (issue 7, load speed): a sealed memtable of
 * `keys` random 16-byte binary keys (as bench/data.ts keyAt 'random') with 100-byte
 * Uint8Array values, one version each, is written by memtableEntries + writeRun to
 * the in-memory fault file system (no disk I/O: what is timed is the main thread's
 * work, the sort, the entry walk, block encoding, the filter). Each round builds a
 * fresh memtable (never scanned, as in a write-only load) and times only the flush.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/flush-cpu.js [keys] [rounds]
 *
 * Prints one JSON line: CPU (user + system, GC included) and wall ns per key of each
 * round. The machine's other load shows in
 * the numbers: compare builds alternately, run it quiet.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { writeRun } from '../src/run/run-writer.js';
import { keyAt } from './data.js';

const keys = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const VALUE_BYTES = 100;
const BATCH_KEYS = 100;

const hash = await loadHash64();
const cpuNsPerKey: number[] = [];
const wallNsPerKey: number[] = [];
for (let round = 0; round < rounds; round++) {
  const index = new MemoryIndex(1);
  for (let start = 0; start < keys; start += BATCH_KEYS) {
    const operations = [];
    for (let number = start; number < Math.min(keys, start + BATCH_KEYS); number++) {
      const value = Buffer.alloc(VALUE_BYTES, number & 0xff);
      operations.push({ key: internalKey(keyAt(round * keys + number, 'random')), slot: prepareValue(value, 1 << 20).stored });
    }
    index.apply(index.appliedVersion + 1, operations, index.appliedVersion + 1);
  }
  const fileSystem = new FaultFileSystem(round + 1);
  await fileSystem.mkdir('/runs');
  const startedMs = performance.now();
  const cpuBefore = process.cpuUsage();
  await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 1, level: 0, hash, entries: memtableEntries(index) });
  const cpu = process.cpuUsage(cpuBefore);
  wallNsPerKey.push(Math.round(((performance.now() - startedMs) * 1e6) / keys));
  cpuNsPerKey.push(Math.round(((cpu.user + cpu.system) * 1e3) / keys));
}
console.log(JSON.stringify({ bench: 'flush-cpu', keys, cpuNsPerKey, wallNsPerKey }));
