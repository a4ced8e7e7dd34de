/**
 * The input fuzz's model of a store's contents (model-input-fuzz.test.ts): every
 * committed version of every key, and the check that a store holds exactly that,
 * read through the public API only: store.version, get and history of every key,
 * scans in both directions, and (in full) every key as of every version.
 * With keyEncoding 'utf8' a scan must stop with KeyEncodingError at the first key
 * whose bytes are not valid UTF-8, after every key before it (README, Keys).
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { isDeepStrictEqual, inspect } from 'node:util';
import { ErrorCode, type KeyEncoding, type Store } from '../src/index.js';
import { hexOf } from './model-input-keys.js';

/** Keys under this prefix are the many keys of one commit, so that a scan spans several of its 256-key chunks. */
export const SPREAD_PREFIX = '~spread/';
const SPREAD_PREFIX_BYTE = SPREAD_PREFIX.charCodeAt(0);

export interface ModelVersion {
  version: number;
  deleted: boolean;
  value?: unknown;
}

interface ModelKey {
  bytes: Uint8Array;
  /** Oldest first. */
  versions: ModelVersion[];
}

export interface ModelWrite {
  bytes: Uint8Array;
  deleted: boolean;
  value?: unknown;
}

export interface ScanRange {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  reverse: boolean;
  limit: number;
  asOf: number;
}

export class ContentsModel {
  readonly #keys = new Map<string, ModelKey>();
  version = 0;

  /** One commit's writes at `version` (the last write of a key wins, as in a batch). */
  commit(version: number, writes: readonly ModelWrite[]): void {
    if (version !== this.version + 1) throw new Error(`commit version ${version} after ${this.version}: a commit must take the next version`);
    this.version = version;
    const last = new Map<string, ModelWrite>();
    for (const write of writes) last.set(hexOf(write.bytes), write);
    for (const [hex, write] of last) {
      let entry = this.#keys.get(hex);
      if (entry === undefined) this.#keys.set(hex, entry = { bytes: write.bytes, versions: [] });
      entry.versions.push(write.deleted ? { version, deleted: true } : { version, deleted: false, value: write.value });
    }
  }

  keys(): Uint8Array[] {
    return [...this.#keys.values()].map((entry) => entry.bytes).sort(Buffer.compare);
  }

  /** Newest first, as history() lists them. */
  history(bytes: Uint8Array): ModelVersion[] {
    return [...(this.#keys.get(hexOf(bytes))?.versions ?? [])].reverse();
  }

  valueAsOf(bytes: Uint8Array, asOf: number): unknown {
    const found = this.history(bytes).find((entry) => entry.version <= asOf);
    return found === undefined || found.deleted ? undefined : found.value;
  }

  /** The entries a scan of `range` must yield, in order. */
  scan(range: ScanRange): [Uint8Array, unknown][] {
    const inRange = this.keys().filter((bytes) =>
      (range.gt === undefined || Buffer.compare(bytes, range.gt) > 0)
      && (range.gte === undefined || Buffer.compare(bytes, range.gte) >= 0)
      && (range.lt === undefined || Buffer.compare(bytes, range.lt) < 0)
      && (range.lte === undefined || Buffer.compare(bytes, range.lte) <= 0));
    if (range.reverse) inRange.reverse();
    const entries: [Uint8Array, unknown][] = [];
    for (const bytes of inRange) {
      if (entries.length >= range.limit) break;
      const value = this.valueAsOf(bytes, range.asOf);
      if (value !== undefined) entries.push([bytes, value]);
    }
    return entries;
  }
}

function fail(what: string, actual: unknown, expected: unknown): never {
  throw new Error(`${what}: got ${inspect(actual, { depth: 4, maxStringLength: 60 })}, expected ${inspect(expected, { depth: 4, maxStringLength: 60 })}`);
}

export function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) fail(what, actual, expected);
}

/**
 * Drains a scan and compares it with `expected`: with 'utf8' keys, up to the first key
 * that is not UTF-8, where the scan must throw KeyEncodingError.
 */
export async function expectScan(what: string, scan: AsyncIterable<[string | Uint8Array, unknown]>, expected: [Uint8Array, unknown][], encoding: KeyEncoding): Promise<void> {
  const stopAt = encoding === 'utf8' ? expected.findIndex(([bytes]) => !isUtf8(bytes)) : -1;
  const yielded: [string, unknown][] = [];
  let thrown: unknown;
  try {
    for await (const [key, value] of scan) yielded.push([typeof key === 'string' ? hexOf(Buffer.from(key, 'utf8')) : hexOf(key), value]);
  } catch (error) {
    thrown = error;
  }
  const wanted = (stopAt === -1 ? expected : expected.slice(0, stopAt)).map(([bytes, value]): [string, unknown] => [hexOf(bytes), value]);
  expectEqual(`${what}: entries`, yielded, wanted);
  if (stopAt === -1 && thrown !== undefined) fail(`${what}: the scan threw`, thrown, 'no error');
  if (stopAt !== -1 && (thrown as { code?: unknown } | undefined)?.code !== ErrorCode.KeyNotUtf8) fail(`${what}: the scan's end`, thrown, 'KeyEncodingError');
}

/** Checks the store holds exactly the model; `full` adds every key as of every version. */
export async function expectContents(what: string, store: Store, model: ContentsModel, encoding: KeyEncoding, full: boolean): Promise<void> {
  expectEqual(`${what}: store.version`, store.version, model.version);
  for (const bytes of model.keys()) {
    // The many keys of one commit (SPREAD_PREFIX) are checked by the scans, and one by one only in full.
    if (!full && bytes[0] === SPREAD_PREFIX_BYTE) continue;
    const key = Buffer.from(bytes);
    expectEqual(`${what}: history(${hexOf(bytes)})`, await store.history(key), model.history(bytes));
    expectEqual(`${what}: get(${hexOf(bytes)})`, await store.get(key), model.valueAsOf(bytes, model.version));
    if (!full || bytes[0] === SPREAD_PREFIX_BYTE) continue;
    for (let asOf = 0; asOf <= model.version; asOf++) {
      expectEqual(`${what}: get(${hexOf(bytes)}, { asOf: ${asOf} })`, await store.get(key, { asOf }), model.valueAsOf(bytes, asOf));
    }
  }
  const all = { reverse: false, limit: Infinity, asOf: model.version };
  await expectScan(`${what}: scan()`, store.scan(), model.scan(all), encoding);
  if (full) await expectScan(`${what}: scan({ reverse: true })`, store.scan({ reverse: true }), model.scan({ ...all, reverse: true }), encoding);
}
