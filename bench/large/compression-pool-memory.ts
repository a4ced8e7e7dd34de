/**
 * The compression pool's memory under a steady stream of batches (issue 7): compresses
 * ROUNDS rounds of BATCHES_IN_FLIGHT batches of COMPRESSION_BATCH_BLOCKS_MAX 4 KiB
 * blocks (half random, half zeros: deflate's work on a packed cold block) through a
 * CompressionPool of 2 threads, as the run writer keeps them in flight, in a child
 * process with bench/large/memory-probe.ts preloaded, and prints the child's peak RSS,
 * its smaps parts and blocks/s:
 *
 *   npm run build && node dist/bench/large/compression-pool-memory.js [--rounds 3000]
 *
 * The pool's threads' malloc arenas are 'threadArenas' (the zlib streams' native
 * memory, freed when a stream object is collected, and the task buffers). blocks/s is
 * noisy on a busy machine: compare alternated runs of two builds.
 *
 * Invariant: the child prints one JSON line on stdout, the last thing printed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { COMPRESSION_BATCH_BLOCKS_MAX, CompressionPool } from '../../src/run/compression-pool.js';
import { RunCompression } from '../../src/run/run-format.js';

const run = promisify(execFile);
const MEBIBYTE = 1024 * 1024;
const BLOCK_BYTES = 4096;
const BATCHES_IN_FLIGHT = 4;
const ROUNDS_DEFAULT = 3000;
const PROBE_URL = new URL('./memory-probe.js', import.meta.url).href;
/** The line memory-probe.ts writes to stderr. */
const MEMORY_PROBE_PREFIX = 'MEMORY-PROBE ';

async function child(rounds: number): Promise<void> {
  const pool = new CompressionPool(2);
  const blocks = Array.from({ length: BATCHES_IN_FLIGHT * COMPRESSION_BATCH_BLOCKS_MAX }, () => {
    const block = Buffer.alloc(BLOCK_BYTES);
    randomBytes(BLOCK_BYTES / 2).copy(block);
    return block;
  });
  const startMs = performance.now();
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: BATCHES_IN_FLIGHT }, (_, batch) =>
      pool.compressBatch(RunCompression.deflate, blocks.slice(batch * COMPRESSION_BATCH_BLOCKS_MAX, (batch + 1) * COMPRESSION_BATCH_BLOCKS_MAX))));
  }
  const elapsedMs = performance.now() - startMs;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ blocksPerSecond: Math.round((rounds * blocks.length * 1_000) / elapsedMs) })}\n`);
}

async function parent(rounds: number): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const { stdout, stderr } = await run(process.execPath, ['--import', PROBE_URL, self, '--child', String(rounds)], { maxBuffer: 16 * MEBIBYTE });
  const probeLine = stderr.split('\n').find((line) => line.startsWith(MEMORY_PROBE_PREFIX));
  if (probeLine === undefined) throw new Error('no probe line on stderr');
  const probe = JSON.parse(probeLine.slice(MEMORY_PROBE_PREFIX.length)) as { peakRssMebibytes: number; smaps: Record<string, number> };
  const lines = stdout.trim().split('\n');
  const figures = JSON.parse(lines[lines.length - 1] ?? '{}') as { blocksPerSecond: number };
  process.stdout.write(`${JSON.stringify({ peakRssMebibytes: probe.peakRssMebibytes, ...probe.smaps, blocksPerSecond: figures.blocksPerSecond })}\n`);
}

function rounds(argv: readonly string[], name: string): number {
  const at = argv.indexOf(name);
  if (at < 0) return ROUNDS_DEFAULT;
  const parsed = Number(argv[at + 1]);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new RangeError(`${name} takes a positive integer, got ${argv[at + 1]}`);
  return parsed;
}

const argv = process.argv.slice(2);
const main = argv[0] === '--child' ? child(rounds(argv, '--child')) : parent(rounds(argv, '--rounds'));
main.catch((error: unknown) => {
  process.stderr.write(`compression-pool-memory: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
