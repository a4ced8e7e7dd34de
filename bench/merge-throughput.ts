/**
 * Merge (compaction) throughput of one merge as the merge thread does it (issue 7):
 * `runs` input runs of `keys` random 16-byte binary keys each (bench/data.ts keyAt
 * 'random', disjoint version ranges, 100-byte values) are written to a temporary
 * directory on the real file system, then merged `rounds` times on this thread the way
 * src/compaction/merge-worker.ts does (RunReader.open without repair, cursors that do
 * not fill the cache, mergeRunBatches yielding every MERGE_WORKER_YIELD_ENTRIES,
 * writeRun with temp + datasync + rename + directory fsync), once into a plain run and
 * once into a cold (deflate) run. The inputs were just written, so they are in the
 * page cache, as a merge's inputs usually are.
 *
 *   npx tsc -p tsconfig.build.json && node --max-semi-space-size=1 dist/bench/merge-throughput.js [keys] [runs] [rounds]
 *
 * --max-semi-space-size=1 gives this thread about the merge thread's young generation
 * (merge-thread.ts MERGE_THREAD_YOUNG_GENERATION_MB), which decides much of the GC cost.
 * Prints one JSON line per output compression: input MB/s (input file bytes over wall
 * time) and CPU ns per entry read (user + system, GC included), each round. The
 * machine's other load shows in the numbers: compare builds alternately, run it quiet.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { MERGE_WORKER_YIELD_ENTRIES, type MergeCounters, mergeRunBatches } from '../src/compaction/merge-runs.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunCursor } from '../src/run/run-cursor.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionName } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { keyAt } from './data.js';

const keys = Number(process.argv[2] ?? 200_000);
const runs = Number(process.argv[3] ?? 4);
const rounds = Number(process.argv[4] ?? 3);
const VALUE_BYTES = 100;

const hash = await loadHash64();
const fileSystem = new NodeFileSystem({ syncMode: 'inline' });
const directory = mkdtempSync(join(tmpdir(), 'ladybug-merge-bench-'));
const inputsDirectory = join(directory, 'inputs');
const outputDirectory = join(directory, 'output');
await fileSystem.mkdir(inputsDirectory);
await fileSystem.mkdir(outputDirectory);

try {
  const inputs: RunDescriptor[] = [];
  for (let run = 0; run < runs; run++) {
    const entries: RunEntry[] = [];
    for (let number = 0; number < keys; number++) {
      const value = Buffer.alloc(VALUE_BYTES, (run * keys + number) & 0xff);
      entries.push({ key: internalKey(keyAt(run * keys + number, 'random')), version: run * keys + number + 1, value });
    }
    entries.sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
    inputs.push(await writeRun({ fileSystem, runsDirectory: inputsDirectory, runId: run + 1, generation: run + 1, level: 1, hash, entries }));
  }
  const inputBytes = inputs.reduce((sum, input) => sum + input.fileBytes, 0);
  for (const compression of ['none', 'deflate'] as RunCompressionName[]) {
    const mbPerSecond: number[] = [];
    const cpuNsPerEntry: number[] = [];
    let outputBytes = 0;
    for (let round = 0; round < rounds; round++) {
      const cache = new BlockCache(1024 * 1024);
      const readers: RunReader[] = [];
      for (const input of [...inputs].reverse()) readers.push(await RunReader.open(fileSystem, inputsDirectory, input, hash, cache, { repair: false }));
      const cursors: RunCursor[] = [];
      for (const reader of readers) cursors.push(await reader.cursor({}, false, { fillCache: false }));
      const counters: MergeCounters = { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 };
      const startedMs = performance.now();
      const cpuBefore = process.cpuUsage();
      const rule = { maxVersionsPerKey: 1000, horizon: Infinity, includesOldest: false };
      const batches = mergeRunBatches(cursors, rule, counters, undefined, undefined, MERGE_WORKER_YIELD_ENTRIES);
      const output = await writeRun({ fileSystem, runsDirectory: outputDirectory, runId: 1000 + round, generation: 7, level: 2, hash, entries: { batches }, compression });
      const cpu = process.cpuUsage(cpuBefore);
      const wallMs = performance.now() - startedMs;
      mbPerSecond.push(Math.round(inputBytes / 1e6 / (wallMs / 1000)));
      cpuNsPerEntry.push(Math.round(((cpu.user + cpu.system) * 1e3) / counters.entriesRead));
      outputBytes = output.fileBytes;
      for (const reader of readers) await reader.close();
      await fileSystem.unlink(join(outputDirectory, output.fileName));
    }
    console.log(JSON.stringify({ bench: 'merge-throughput', compression, runs, keysPerRun: keys, inputMB: Math.round(inputBytes / 1e6), outputMB: Math.round(outputBytes / 1e6), mbPerSecond, cpuNsPerEntry }));
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
