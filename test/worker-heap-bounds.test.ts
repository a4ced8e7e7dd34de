/**
 * The largest inputs a user can give, through the store's worker threads: the flush
 * thread (FLUSH_THREAD_OLD_GENERATION_MB), the merge thread
 * (MERGE_THREAD_OLD_GENERATION_MB) and the compression pool (piscina, in-process
 * merges of the cold tier).
 *
 * A thread whose heap GROWS past its resourceLimits ends alone (ERR_WORKER_OUT_OF_MEMORY)
 * and the store redoes its work in process (test/review-thread-exit-*.test.ts). One
 * on-heap ALLOCATION larger than what the thread's heap has left (one big string, one
 * big JS array) instead aborts the whole process ("FATAL ERROR ... heap out of
 * memory"). So each case runs a real store on the real file system in a child process
 * (test/support/worker-heap-child.ts, against the build in dist/): an abort shows as
 * the child's exit code or signal and its stderr, and the child reads every value back
 * after a reopen.
 *
 * What the threads hold on their heap, by the code (values and blocks are bytes, off
 * the heap, in every thread: flush chunks, data blocks, zlib input and output, the
 * index builder's pages, the filter's hashes and partitions):
 * - flush thread: one chunk's entry objects at a time (FLUSH_CHUNK_BYTES: at most
 *   ~29k entries of a tombstone under the previous key), key strings of at most
 *   KEY_BYTES_MAX one-byte chars, one object per kept block (ReturnedBlock), and the
 *   writer's objects and last key per output partition as in the merge thread (below):
 *   a memtable of enough distinct long keys (a large memoryBudgetBytes) exhausts it
 *   the same way, gradually (not measured).
 * - merge thread: per input a few decoded blocks (a block's `keys` array is bounded
 *   by its 4 KiB target; a block past it holds one entry) and per-partition slot
 *   arrays. Two things grow with the input, both gradually (the thread ends alone and
 *   the merge is redone in process; no single allocation nears the heap's size):
 *   - per OUTPUT partition, until the run's end, its objects (PartitionBuilder,
 *     FilterPartitions, writeMetadata's entries) and its last key's string: with keys
 *     of KEY_BYTES_MAX a partition holds ~9 keys, and a merge of 150k such distinct
 *     keys (~150 MB) exhausted the 32 MiB heap, 110k did not (measured, not tested
 *     here: too large for a unit test);
 *   - ALL the versions of the key being merged (mergeRunBatches' history, collectKey's
 *     kept copy, the batch): an entry object and a value view each, ~150-200 B; a key
 *     with ~150k versions (maxVersionsPerKey defaults to keep all) exhausts the heap;
 *     its one array (8 B a version) never nears the heap's size first.
 * - compression pool: at most COMPRESSION_BATCH_BLOCKS_MAX lengths and parts per task.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEY_BYTES_MAX, VALUE_BYTES_DEFAULT_MAX } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const distRoot = fileURLToPath(new URL('../dist/', import.meta.url));
let childPath = '';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  const { build } = await import('esbuild');
  const cacheDirectory = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));
  mkdirSync(cacheDirectory, { recursive: true });
  childPath = join(mkdtempSync(join(cacheDirectory, 'ladybug-worker-heap-child-')), 'worker-heap-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./support/worker-heap-child.ts', import.meta.url))],
    bundle: true, packages: 'external', platform: 'node', format: 'esm', outfile: childPath, logLevel: 'error',
  });
}, 180_000);

afterAll(() => rmSync(dirname(childPath), { recursive: true, force: true }));

afterEach(() => removeTemporaryDirectories());

/** What the child printed (RESULT line), see worker-heap-child.ts. */
interface ChildResult {
  checked: number;
  rounds: number;
  runs: number;
  mergeThreadExits: number;
  tiers: { coldRuns: number; compressedInputBytes: number };
  threadFlushes: number;
  flushThreadExits: number;
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  result: ChildResult | undefined;
}

/** Runs the child on a fresh directory; resolves once it exited, however it ended. */
function runChild(scenario: string, size: number, mergeThread: 'worker' | 'main' = 'worker'): Promise<ChildRun> {
  const env = { ...process.env, LADYBUG_TEST_MERGE_THREAD: mergeThread };
  const child = spawn(process.execPath, [childPath, distRoot, temporaryDirectory(), scenario, String(size)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((text) => text.startsWith('RESULT '));
      resolve({ code, signal, stderr, result: line === undefined ? undefined : (JSON.parse(line.slice('RESULT '.length)) as ChildResult) });
    });
  });
}

/** The child ended normally, no thread aborted the process, and it read everything back. */
function expectSurvived(run: ChildRun): ChildResult {
  expect(run.stderr).not.toMatch(/FATAL ERROR|heap out of memory|Abort/i);
  expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  expect(run.result).toBeDefined();
  const result = run.result!;
  // Every flush went through the flush thread, none of them died.
  expect(result.threadFlushes).toBeGreaterThanOrEqual(result.rounds);
  expect(result.flushThreadExits).toBe(0);
  // Every round merged into one run; the cold tier was written and then merged again.
  expect(result.runs).toBe(1);
  expect(result.tiers.coldRuns).toBe(1);
  expect(result.tiers.compressedInputBytes).toBeGreaterThan(0);
  return result;
}

describe('the largest values through the flush and merge threads', () => {
  // VALUE_BYTES_DEFAULT_MAX (16 MiB) is both the default maxValueBytes (with the default
  // 64 MiB WAL segment) and the largest allowed.
  it(`values of maxValueBytes ${VALUE_BYTES_DEFAULT_MAX} encoded (bytes, one- and two-byte strings, an object) under ${KEY_BYTES_MAX}-byte keys: no abort, every version exact after a reopen`, async () => {
    const result = expectSurvived(await runChild('values', VALUE_BYTES_DEFAULT_MAX));
    expect(result.mergeThreadExits).toBe(0);
    expect(result.checked).toBe(4 * (1 + result.rounds)); // four keys: get, then every version of its history
  }, 180_000);

  it('the same values merged in process, the cold blocks compressed by the compression pool', async () => {
    const result = expectSurvived(await runChild('values', VALUE_BYTES_DEFAULT_MAX, 'main'));
    expect(result.checked).toBe(4 * (1 + result.rounds));
  }, 180_000);
});

describe('many entries through the flush and merge threads', () => {
  it('a memtable of a million tiny entries, merged with later runs and again from the cold tier', async () => {
    const result = expectSurvived(await runChild('tiny', 1_000_000));
    expect(result.mergeThreadExits).toBe(0);
    expect(result.checked).toBe(1_000_000 + 20); // every key's newest value, 20 histories sampled
  }, 180_000);

  it(`100,000 versions of one ${KEY_BYTES_MAX}-byte key: merged in the thread`, async () => {
    const result = expectSurvived(await runChild('versions', 100_000));
    expect(result.mergeThreadExits).toBe(0);
    expect(result.checked).toBe(1 + 100_000);
  }, 180_000);

  it('240,000 versions of one key, past what the merge thread holds: no abort, the data exact', async () => {
    // Measured (Node 20): a merge of 120k versions of one key fits the merge thread's heap,
    // 180k and 240k exhaust it (the key's whole history is on it, see the header);
    // gradually, so only the thread ends and the merge is redone in process.
    const result = expectSurvived(await runChild('versions', 240_000));
    expect(result.checked).toBe(1 + 240_000);
  }, 180_000);
});
