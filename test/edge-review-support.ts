/**
 * Seeded keys at the edges of the key order, and a Map model of a store compared by
 * every read: UTF-8 strings mixing BMP characters above U+E000 (U+FFFD, U+FFFF) with
 * astral ones (UTF-8 byte order and JavaScript's UTF-16 order disagree there), binary
 * keys of 0x00 and 0xFF bytes, keys that are prefixes of each other, and keys at the
 * 1,024-byte maximum sharing 1,000-byte prefixes.
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import type { ScanOptions, Store, StoreSnapshot } from '../src/index.js';
import { mulberry32 } from './support/seeded-random.js';

export type Random = () => number;
export { mulberry32 };

/** Characters whose UTF-8 order differs from their UTF-16 order, and neighbours of them. */
const EDGE_CHARS = ['a', 'b', '\u0000', '\u007f', '\u0080', '\u00e9', '\u07ff', '\u0800', '\uD7FF', '\uE000', '\uFFFD', '\uFFFE', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}'];

export const pick = <T>(rng: Random, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

/** The key's UTF-8 bytes as a byte string (one char per byte): JS order on these is byte order. */
export function byteKey(key: string | Uint8Array): string {
  return typeof key === 'string' ? Buffer.from(key, 'utf8').toString('latin1') : Buffer.from(key).toString('latin1');
}

/** A utf8 string key of at most `maxBytes` bytes, from the edge characters, with a shared stem sometimes. */
export function edgeStringKey(rng: Random, stems: readonly string[]): string {
  const stem = rng() < 0.3 ? pick(rng, stems) : '';
  let key = stem;
  const length = 1 + Math.floor(rng() * 4);
  for (let index = 0; index < length; index++) key += pick(rng, EDGE_CHARS);
  // Prefixes of each other: drop the tail sometimes.
  if (rng() < 0.2 && key.length > 1) key = key.slice(0, key.length - (key.codePointAt(key.length - 2)! > 0xffff ? 2 : 1));
  while (Buffer.byteLength(key, 'utf8') > 1024) key = key.slice(0, -2);
  return key.length === 0 || /\p{Cs}/u.test(key) ? 'a' : key;
}

/** Stems: long keys with a 1,000-byte shared prefix, ending at the 1,024-byte maximum. */
export function longStems(): string[] {
  return ['\uFFFD'.repeat(333) + 'x', '\u{10000}'.repeat(250), 'L'.repeat(1000)];
}

/** Keys at the maximum: a 1,000-byte prefix and 24 varying bytes. */
export function maxKey(rng: Random, stem: string): string {
  let key = stem;
  while (Buffer.byteLength(key, 'utf8') < 1024) {
    const char = pick(rng, ['a', 'z', '\u00e9', '\uFFFF', '\u{10000}']);
    if (Buffer.byteLength(key + char, 'utf8') <= 1024) key += char;
    else key += 'a';
  }
  return key;
}

/** A binary key of 0x00/0xFF/0x01/0x7F/0x80 bytes, 1 to 6 bytes long. */
export function edgeBinaryKey(rng: Random): Uint8Array {
  const length = 1 + Math.floor(rng() * 6);
  return Uint8Array.from({ length }, () => pick(rng, [0x00, 0x00, 0xff, 0xff, 0x01, 0x7f, 0x80]));
}

/** Latest values by byte key (undefined: deleted). */
export class EdgeModel {
  readonly latest = new Map<string, unknown>();
  /** Per key, [version, value or undefined for a delete], oldest first. */
  readonly versions = new Map<string, Array<[number, unknown]>>();

  write(byte: string, version: number, value: unknown): void {
    this.latest.set(byte, value);
    let list = this.versions.get(byte);
    if (list === undefined) this.versions.set(byte, (list = []));
    list.push([version, value]);
  }

  valueAsOf(byte: string, version: number): unknown {
    const list = this.versions.get(byte) ?? [];
    let found: unknown;
    for (const [at, value] of list) if (at <= version) found = value;
    return found;
  }

  /** Live keys in byte order with their value as of `version`. */
  entriesAsOf(version: number): Array<[string, unknown]> {
    const result: Array<[string, unknown]> = [];
    for (const byte of [...this.versions.keys()].sort()) {
      const value = this.valueAsOf(byte, version);
      if (value !== undefined) result.push([byte, value]);
    }
    return result;
  }
}

export interface Bounds { gt?: string; gte?: string; lt?: string; lte?: string }

export function inBounds(byte: string, bounds: Bounds): boolean {
  if (bounds.gt !== undefined && !(byte > bounds.gt)) return false;
  if (bounds.gte !== undefined && !(byte >= bounds.gte)) return false;
  if (bounds.lt !== undefined && !(byte < bounds.lt)) return false;
  if (bounds.lte !== undefined && !(byte <= bounds.lte)) return false;
  return true;
}

/** Random bounds from the byte keys given (byte strings), of every kind. */
export function randomBounds(rng: Random, byteKeys: readonly string[]): Bounds {
  const bounds: Bounds = {};
  const lower = rng();
  if (lower < 0.35) bounds.gt = pick(rng, byteKeys);
  else if (lower < 0.7) bounds.gte = pick(rng, byteKeys);
  const upper = rng();
  if (upper < 0.35) bounds.lt = pick(rng, byteKeys);
  else if (upper < 0.7) bounds.lte = pick(rng, byteKeys);
  return bounds;
}

type Reader = Pick<Store, 'scan' | 'get'> | StoreSnapshot;

/** The bound as the store takes it: a string for a utf8 key set, its bytes otherwise. */
export function argumentOf(byte: string, binary: boolean): string | Uint8Array {
  return binary ? Uint8Array.from(Buffer.from(byte, 'latin1')) : Buffer.from(byte, 'latin1').toString('utf8');
}

/** Compares `reads` random scans (both directions, limits) and every get of the model's keys. */
export async function checkReads(reader: Reader, model: EdgeModel, version: number, rng: Random, label: string, binary: boolean, scans = 16): Promise<void> {
  const expected = model.entriesAsOf(version);
  const byteKeys = [...model.versions.keys()];
  for (const byte of byteKeys) {
    expect(await reader.get(argumentOf(byte, binary)), `${label}: get ${Buffer.from(byte, 'latin1').toString('hex')}`).toEqual(model.valueAsOf(byte, version));
  }
  const whole = await collect(reader, {}, binary);
  expect(whole.map(([key]) => hex(key)), `${label}: full scan order`).toEqual(expected.map(([key]) => hex(key)));
  expect(whole.map(([, value]) => value), `${label}: full scan values`).toEqual(expected.map(([, value]) => value));
  for (let index = 0; index < scans; index++) {
    const bounds = randomBounds(rng, byteKeys);
    const reverse = rng() < 0.5;
    const limit = rng() < 0.5 ? 1 + Math.floor(rng() * 5) : undefined;
    let want = expected.filter(([byte]) => inBounds(byte, bounds));
    if (reverse) want = want.reverse();
    if (limit !== undefined) want = want.slice(0, limit);
    const options: ScanOptions = { reverse, ...(limit === undefined ? {} : { limit }) };
    for (const [name, byte] of Object.entries(bounds)) (options as Record<string, unknown>)[name] = argumentOf(byte as string, binary);
    const got = await collect(reader, options, binary);
    const shown = Object.fromEntries(Object.entries(bounds).map(([name, byte]) => [name, hex(byte as string)]));
    expect(got.map(([key]) => hex(key)), `${label}: scan ${JSON.stringify({ ...shown, reverse, limit })}`).toEqual(want.map(([key]) => hex(key)));
  }
}

export function hex(byte: string): string {
  return Buffer.from(byte, 'latin1').toString('hex');
}

async function collect(reader: Reader, options: ScanOptions, binary: boolean): Promise<Array<[string, unknown]>> {
  const result: Array<[string, unknown]> = [];
  for await (const [key, value] of reader.scan(options)) result.push([binary ? byteKey(key as Uint8Array) : byteKey(key as string), value]);
  return result;
}
