/**
 * A child process for test/worker-heap-bounds.test.ts, bundled with esbuild and
 * started with child_process.spawn:
 *
 *   node worker-heap-child.mjs <dist root> <directory> <scenario> <size>
 *
 * It loads the BUILT store (dist/src/...: the flush and merge threads run the
 * compiled workers, and the counters read here are those modules' own), pushes the
 * scenario's inputs through flushes (checkpoint) and merges (compact: tier 1, then
 * tier 2, the cold tier, compressed, then that cold run merged again), closes, reopens and reads every value back. It
 * prints one line `RESULT <json>` and exits 0; any failure exits 1 with the error on
 * stderr. A V8 abort ("FATAL ERROR ... heap out of memory") in a worker thread ends
 * the whole process instead: the parent sees it as the exit code or signal and stderr.
 *
 * Scenarios (size: see each):
 * - values: keys of the largest length, values of the largest encoded size
 *   (maxValueBytes at its largest allowed): bytes, a one-byte string, a two-byte
 *   string, an object holding a large string and a large array; `size` is the
 *   maxValueBytes option.
 * - versions: `size` versions of one key of the largest length.
 * - tiny: `size` distinct tiny keys in the first memtable, every tenth again in each later one.
 * Merges go through the merge thread, or in process with the compression pool when the
 * environment variable LADYBUG_TEST_MERGE_THREAD is 'main'.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

type Index = typeof import('../../src/index.js');
type Policy = typeof import('../../src/compaction/compaction-policy.js');
type FlushThreadModule = typeof import('../../src/engine/flush-thread.js');
type FlusherModule = typeof import('../../src/engine/flusher.js');
type Store = import('../../src/index.js').Store;
type StoreOptions = NonNullable<Parameters<Index['openStore']>[1]>;

const [distRoot, directory, scenario, sizeArgument] = process.argv.slice(2);
const size = Number(sizeArgument);

const load = <T>(path: string): Promise<T> => import(pathToFileURL(join(distRoot!, path)).href) as Promise<T>;

/** The largest key: KEY_BYTES_MAX bytes, `tag` at its end so keys differ. */
function longKey(tag: string, keyBytes: number): string {
  return 'k'.repeat(keyBytes - tag.length) + tag;
}

/**
 * Writes the value `make(length)` under `key`, `length` lowered until it encodes to at
 * most maxValueBytes (by the excess the refusal reports, over `bytesPerUnit`); returns
 * a function that makes what was written again.
 */
async function putLargest(store: Store, key: string, make: (length: number) => unknown, startLength: number, bytesPerUnit: number): Promise<() => unknown> {
  let length = startLength;
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      await store.put(key, make(length) as never);
      const written = length;
      return () => make(written);
    } catch (error) {
      const refused = error as { code?: string; sizeBytes: number; maxBytes: number };
      if (refused.code !== 'LADYBUG_VALUE_TOO_LARGE') throw error;
      length -= Math.ceil((refused.sizeBytes - refused.maxBytes) / bytesPerUnit);
    }
  }
  throw new Error(`no value of about ${startLength} units fits under a ${key.length}-byte key`);
}

/** Flushes, each of a round of writes; merges after every round but the first. */
const ROUNDS = 4;

interface Expected {
  key: string;
  /** Newest first; a function makes the value again (the largest values are not kept: the child's memory stays modest). */
  versions: unknown[];
}

/** An expected version's value (see Expected). */
const valueOf = (expected: unknown): unknown => (typeof expected === 'function' ? (expected as () => unknown)() : expected);

async function values(store: Store, keyBytes: number, maxValueBytes: number): Promise<Expected[]> {
  const expected: Expected[] = [];
  const kinds: Array<[string, (length: number, round: number) => unknown, number, number]> = [
    ['bytes', (length, round) => new Uint8Array(length).fill(round + 1), maxValueBytes, 1],
    // msgpack str 32: 5 header bytes; one byte per char.
    ['latin', (length, round) => String.fromCharCode(97 + round).repeat(length), maxValueBytes, 1],
    // '€' is three UTF-8 bytes and makes a two-byte string in V8.
    ['twobyte', (length, round) => '€'.repeat(length) + String(round), Math.floor(maxValueBytes / 3), 3],
    // An object: a long string and an array of a million small integers (one byte each in msgpack).
    ['object', (length, round) => ({ round, text: 'x'.repeat(length - (1 << 20)), list: Array.from({ length: (1 << 20) - 64 }, (_, index) => index % 100) }), maxValueBytes, 1],
  ];
  for (const [tag] of kinds) expected.push({ key: longKey(tag, keyBytes), versions: [] });
  return runRounds(store, async (round) => {
    for (const [index, [, make, start, bytesPerUnit]] of kinds.entries()) {
      const written = await putLargest(store, expected[index]!.key, (length) => make(length, round), start, bytesPerUnit);
      expected[index]!.versions.unshift(written);
    }
  }, expected);
}

async function versions(store: Store, keyBytes: number, count: number): Promise<Expected[]> {
  const key = longKey('v', keyBytes);
  const entry: Expected = { key, versions: [] };
  return runRounds(store, async () => {
    const perRun = Math.ceil(count / ROUNDS);
    const base = entry.versions.length;
    for (let start = 0; start < perRun; start += 1000) {
      const puts: Array<Promise<unknown>> = [];
      for (let index = start; index < Math.min(perRun, start + 1000); index++) puts.push(store.put(key, base + index));
      await Promise.all(puts);
    }
    for (let index = 0; index < perRun; index++) entry.versions.unshift(base + index);
  }, [entry]);
}

async function tiny(store: Store, count: number): Promise<Expected[]> {
  const name = (index: number): string => `t${index.toString(36).padStart(5, '0')}`;
  const newest = Array.from({ length: count }, (_, index) => index);
  await runRounds(store, async (round) => {
    // Round 0 writes every key (one memtable of `count` entries), later rounds every tenth.
    const step = round === 0 ? 1 : 10;
    const operations = [];
    for (let index = 0; index < count; index += step) {
      operations.push({ type: 'put' as const, key: name(index), value: index + round });
      newest[index] = index + round;
      if (operations.length === 5000) await store.batch(operations.splice(0));
    }
    if (operations.length > 0) await store.batch(operations);
  }, []);
  return newest.map((value, index) => ({ key: name(index), versions: [value] }));
}

/**
 * ROUNDS rounds of `write`, each followed by a flush (checkpoint) and, from the second
 * on, a merge of every run: tier 0 runs make tier 1, then tier 1 + 0 make tier 2 (the
 * cold tier, compressed), then that cold run is an input (read, decompressed) of the
 * last merge.
 */
async function runRounds(store: Store, write: (round: number) => Promise<void>, expected: Expected[]): Promise<Expected[]> {
  for (let round = 0; round < ROUNDS; round++) {
    await write(round);
    await store.checkpoint();
    if (round > 0) {
      const result = await store.compact();
      // 'nothing': a background merge (four runs of a tier, from flushes the memory budget started) left one run.
      const runs = (await store.stats()).storage.runs;
      if (result.outcome !== 'compacted' && !(result.outcome === 'nothing' && runs === 1)) throw new Error(`compaction ${round}: ${JSON.stringify(result)}, ${runs} runs`);
    }
  }
  return expected;
}

/** Reads every expected version back (newest by get, older ones as of their version through history). */
async function check(store: Store, expected: Expected[], sampleHistory: number): Promise<number> {
  let checked = 0;
  for (const [number, { key, versions: values }] of expected.entries()) {
    const got = await store.get(key);
    if (!isDeepStrictEqual(got, valueOf(values[0]))) throw new Error(`${key.slice(-16)}: the newest value differs after reopen`);
    checked++;
    if (number % sampleHistory !== 0) continue;
    const history = await store.history(key);
    const written = history.filter((item) => !item.deleted);
    if (values.length > 1 && written.length !== values.length) throw new Error(`${key.slice(-16)}: ${written.length} versions, ${values.length} written`);
    for (const [index, item] of written.entries()) {
      if (index >= values.length) break;
      if (!isDeepStrictEqual(item.value, valueOf(values[index]))) throw new Error(`${key.slice(-16)}: version ${item.version} differs after reopen`);
      checked++;
    }
  }
  return checked;
}

async function main(): Promise<void> {
  const { openStore } = await load<Index>('src/index.js');
  const { compactionSettings } = await load<Policy>('src/compaction/compaction-policy.js');
  const { flushThreadCounters } = await load<FlushThreadModule>('src/engine/flush-thread.js');
  const { KEY_BYTES_MAX, VALUE_BYTES_DEFAULT_MAX } = await load<typeof import('../../src/limits.js')>('src/limits.js');
  const { flushSettings } = await load<FlusherModule>('src/engine/flusher.js');
  if (process.env.LADYBUG_TEST_MERGE_THREAD === 'main') compactionSettings.mergeThread = 'main';
  // Every flush in the flush thread, however small its memtable.
  flushSettings.threadMinMemtableBytes = 0;
  // The default WAL segment (64 MiB) holds the largest values allowed; no write waits for a merge.
  const options: StoreOptions = scenario === 'values' ? { maxValueBytes: size } : {};
  compactionSettings.stallRunCount = 1_000;
  let store = await openStore(directory!, options);
  let expected: Expected[];
  if (scenario === 'values') {
    if (size > VALUE_BYTES_DEFAULT_MAX) throw new Error(`maxValueBytes ${size} is past the largest allowed`);
    expected = await values(store, KEY_BYTES_MAX, size);
  } else if (scenario === 'versions') expected = await versions(store, KEY_BYTES_MAX, size);
  else if (scenario === 'tiny') expected = await tiny(store, size);
  else throw new Error(`unknown scenario ${scenario}`);
  const stats = (await store.stats()) as unknown as { storage: { runs: number; compaction: { mergeThreadExits: number }; tiers: unknown } };
  const before = { runs: stats.storage.runs, mergeThreadExits: stats.storage.compaction.mergeThreadExits, tiers: stats.storage.tiers };
  await store.close();
  store = await openStore(directory!, options);
  const checked = await check(store, expected, scenario === 'tiny' ? 50_000 : 1);
  await store.close();
  const result = { checked, rounds: ROUNDS, ...before, threadFlushes: flushThreadCounters.threadFlushes, flushThreadExits: flushThreadCounters.threadExits };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
