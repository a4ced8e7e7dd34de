/**
 * Helpers of the run, stripe and manifest damage review (test/review-runs-*.test.ts):
 * a small store on the fault file system with runs of every kind (flushed tier 0,
 * tier 1, packed cold tier 2 with tombstones and a key of many versions), the model
 * of what every read must answer, copies of the pristine image to damage one at a
 * time, and the check that a damaged store either answers exactly the model or
 * throws CorruptionError naming the damaged file.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore, type Store } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { mulberry32 } from './transaction-support.js';

export const STORE = '/store';

export interface ModelVersion {
  version: number;
  value?: unknown;
}

/** key -> versions, oldest first (a version without `value` is a delete). */
export type Model = Map<string, ModelVersion[]>;

export interface BuiltStore {
  image: Map<string, Uint8Array>;
  model: Model;
  /** Versions the as-of reads ask at (every commit's, and between). */
  asOfVersions: number[];
  runFiles: string[];
  manifestFiles: string[];
  /** Store version at close. */
  version: number;
  /** Tier (descriptor level) and compression of each run file, for the report. */
  tiers: Map<string, number>;
}

export const key = (index: number) => `k-${String(index).padStart(4, '0')}`;
const value = (index: number, round: number) => ({ i: index, r: round, s: `value ${index} of round ${round}`.padEnd(40 + (index % 13), '.') });

/** Copies every file of `image` into a fresh fault file system (everything durable). */
export async function fileSystemOf(image: Map<string, Uint8Array>): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem();
  const directories = new Set<string>();
  // Every ancestor directory of every file, so nested ones are made (and synced) too.
  for (const path of image.keys()) {
    for (let cut = path.indexOf('/', 1); cut > 0; cut = path.indexOf('/', cut + 1)) directories.add(path.slice(0, cut));
  }
  for (const directory of [...directories].sort()) await fileSystem.mkdir(directory);
  for (const [path, bytes] of image) {
    const handle = await fileSystem.open(path, 'createExclusive');
    await handle.write(bytes, 0);
    await handle.datasync();
    await handle.close();
  }
  for (const directory of [...directories].sort().reverse()) await fileSystem.syncDirectory(directory);
  await fileSystem.syncDirectory('/');
  return fileSystem;
}

export function imageOf(fileSystem: FaultFileSystem): Map<string, Uint8Array> {
  const image = new Map<string, Uint8Array>();
  for (const path of fileSystem.listPaths()) image.set(path, fileSystem.durableContent(path) as Uint8Array);
  return image;
}

/** Applies a put (value) or delete (undefined) to the model. */
function record(model: Model, k: string, version: number, v: unknown): void {
  const versions = model.get(k) ?? [];
  versions.push(v === undefined ? { version } : { version, value: v });
  model.set(k, versions);
}

/**
 * Writes a store with several runs of each kind and closes it: flushed runs (tier 0),
 * a tier-1 merge, a packed cold run (tier 2, deflate) holding tombstones and one key
 * ("k-0000") with many versions, and newer flushes above them.
 */
export async function buildStore(): Promise<BuiltStore> {
  const fileSystem = new FaultFileSystem();
  await fileSystem.mkdir(STORE);
  await fileSystem.syncDirectory('/');
  const model: Model = new Map();
  const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024 });
  const put = async (index: number, round: number) => record(model, key(index), (await store.put(key(index), value(index, round))).version, value(index, round));
  const del = async (index: number) => record(model, key(index), (await store.delete(key(index))).version, undefined);
  const round = async (round: number, from: number, to: number) => {
    for (let index = from; index < to; index++) {
      if ((index + round) % 11 === 0 && model.has(key(index))) await del(index);
      else await put(index, round);
    }
    for (let repeat = 0; repeat < 12; repeat++) await put(0, round * 100 + repeat);
    await store.checkpoint();
  };
  // Three flushes merged into tier 1, a fourth merged with it into the cold tier; then
  // three newer flushes left unmerged: a packed cold run under uncompressed ones.
  await round(1, 0, 60);
  await round(2, 20, 80);
  await round(3, 40, 100);
  await store.compact();
  await round(4, 10, 90);
  await store.compact();
  await round(5, 0, 40);
  await round(6, 30, 70);
  await round(7, 60, 110);
  const version = store.version;
  await store.close();
  const image = imageOf(fileSystem);
  const runFiles = [...image.keys()].filter((path) => path.endsWith('.run'));
  const manifestFiles = [...image.keys()].filter((path) => path.includes('/manifest/MANIFEST-'));
  const tiers = new Map<string, number>();
  for (const path of runFiles) {
    const bytes = image.get(path) as Uint8Array;
    tiers.set(path, Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - RUN_PAGE_BYTES + 52, 4).readUInt32LE(0));
  }
  const asOfVersions: number[] = [];
  for (let v = 0; v < version; v += Math.ceil(version / 5)) asOfVersions.push(v);
  asOfVersions.push(version);
  return { image, model, asOfVersions, runFiles, manifestFiles, version, tiers };
}

/** What get(key, { asOf }) must answer. */
export function modelGet(model: Model, k: string, asOf = Number.POSITIVE_INFINITY): unknown {
  const versions = model.get(k) ?? [];
  for (let index = versions.length - 1; index >= 0; index--) {
    const found = versions[index] as ModelVersion;
    if (found.version <= asOf) return found.value;
  }
  return undefined;
}

function modelScan(model: Model, asOf: number | undefined, reverse: boolean): Array<[string, unknown]> {
  const result: Array<[string, unknown]> = [];
  for (const k of [...model.keys()].sort()) {
    const found = modelGet(model, k, asOf);
    if (found !== undefined) result.push([k, found]);
  }
  return reverse ? result.reverse() : result;
}

function modelHistory(model: Model, k: string): Array<{ version: number; value?: unknown; deleted: boolean }> {
  return [...(model.get(k) ?? [])].reverse().map((found) => (found.value === undefined ? { version: found.version, deleted: true } : { version: found.version, value: found.value, deleted: false }));
}

export class WrongAnswer extends Error {}

function same(what: string, got: unknown, expected: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(expected)) throw new WrongAnswer(`${what}: got ${JSON.stringify(got)?.slice(0, 200)}, expected ${JSON.stringify(expected)?.slice(0, 200)}`);
}

/** Every read the model answers: get, get as of every sampled version, history, scans both ways (latest and as of a middle version). Throws WrongAnswer or what the store threw. */
export async function readEverything(store: Store, built: BuiltStore): Promise<void> {
  const keys = [...built.model.keys()].sort();
  keys.push(key(999));
  for (const k of keys) {
    same(`get ${k}`, await store.get(k), modelGet(built.model, k));
    for (const asOf of built.asOfVersions) same(`get ${k} asOf ${asOf}`, await store.get(k, { asOf }), modelGet(built.model, k, asOf));
    const history = (await store.history(k)).map((entry) => ({ ...entry }));
    same(`history ${k}`, history, modelHistory(built.model, k));
  }
  const middle = Math.floor(built.version / 2);
  for (const reverse of [false, true]) {
    for (const asOf of [undefined, middle]) {
      const got: Array<[string, unknown]> = [];
      for await (const entry of store.scan({ reverse, ...(asOf === undefined ? {} : { asOf }) })) got.push([entry[0] as string, entry[1]]);
      same(`scan reverse=${reverse} asOf=${asOf}`, got, modelScan(built.model, asOf, reverse));
    }
  }
}

export type Outcome = { kind: 'exact' } | { kind: 'corruption'; error: CorruptionError } | { kind: 'wrong'; message: string };

/**
 * Opens the store on `fileSystem`, reads everything and closes it. Exact answers, or a
 * CorruptionError (from open, a read or close); anything else (a wrong answer, another
 * error type) is `wrong`.
 */
export async function openAndRead(fileSystem: FileSystem, built: BuiltStore): Promise<Outcome> {
  let store: Store | undefined;
  try {
    store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    await readEverything(store, built);
    const opened = store;
    store = undefined;
    await opened.close();
    return { kind: 'exact' };
  } catch (error) {
    await store?.close().catch(() => undefined);
    if (error instanceof CorruptionError) return { kind: 'corruption', error };
    if (error instanceof WrongAnswer) return { kind: 'wrong', message: error.message };
    return { kind: 'wrong', message: `unexpected ${(error as Error)?.constructor?.name}: ${(error as Error)?.message ?? String(error)}` };
  }
}

/** A seeded generator (mulberry32, test/transaction-support.ts) for the offset samples. */
export const seeded = mulberry32;

/** Physical offsets of non-zero bytes of each data-area page of a run file (parity pages and the footer left out), by physical page. */
export function blockBytePages(bytes: Uint8Array, stripeDataPages = 16): Map<number, number[]> {
  const pages = new Map<number, number[]>();
  const pageCount = bytes.length / RUN_PAGE_BYTES;
  for (let page = 0; page < pageCount - 1; page++) {
    if (page % (stripeDataPages + 1) === stripeDataPages) continue;
    const offsets: number[] = [];
    for (let offset = page * RUN_PAGE_BYTES; offset < (page + 1) * RUN_PAGE_BYTES; offset++) if (bytes[offset] !== 0) offsets.push(offset);
    if (offsets.length > 0) pages.set(page, offsets);
  }
  return pages;
}

export const fileName = (path: string) => path.slice(path.lastIndexOf('/') + 1);
