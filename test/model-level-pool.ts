/**
 * The material of the level differential test (model-level-driver.ts): a seeded pool
 * of keys and values, their forms in each abstract-level encoding, and the normal form
 * in which the results of ladybug-level and classic-level are compared.
 *
 * Keys are bytes: the empty key and 0x00 (the adapter's pair slot), 0x00/0xff runs,
 * invalid UTF-8, keys shaped like sublevel prefixes ('!a!x', '#b#', '!a"'), a key under
 * the store's reserved prefix and keys at and past the store's 1,024-byte limit (see
 * refusedKey), and random short keys over a small alphabet so that ranges, seeks and
 * clears land on and between stored keys.
 */
import { Buffer } from 'node:buffer';
import { mulberry32 } from './transaction-support.js';

export type Random = () => number;

/** The seeded generator the other model tests use (transaction-support.ts). */
export { mulberry32 };

export function pick<T>(rng: Random, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

export function chance(rng: Random, probability: number): boolean {
  return rng() < probability;
}

/** The store's key limit (KEY_BYTES_MAX) and reserved prefix, as a level user meets them. */
export const STORE_KEY_BYTES_MAX = 1024;
const RESERVED = Buffer.from('\u0000ladybug/', 'latin1');

/**
 * Why ladybug refuses a write of this root-level key where classic-level takes it, or
 * undefined: both are documented store limits (README "Keys", "Leases"), not defects.
 */
export function refusedKey(rootKey: Buffer): string | undefined {
  if (rootKey.length > STORE_KEY_BYTES_MAX) return 'longer than the store key limit';
  if (rootKey.length >= RESERVED.length && rootKey.subarray(0, RESERVED.length).equals(RESERVED)) return 'under the reserved prefix';
  return undefined;
}

const ALPHABET = [0x00, 0x01, 0x21, 0x22, 0x23, 0x61, 0x62, 0x7f, 0x80, 0xc3, 0xa9, 0xfe, 0xff];

export function makeKeys(rng: Random): Buffer[] {
  const fixed = [
    Buffer.alloc(0), Buffer.of(0), Buffer.of(0, 0), Buffer.of(0, 1), Buffer.of(0xff), Buffer.of(0xff, 0xff),
    Buffer.from('a'), Buffer.from('b'), Buffer.from('!a!'), Buffer.from('!a!x'), Buffer.from('!a"'),
    Buffer.from('#b#'), Buffer.from('!a!!c!k'), Buffer.from('\u0000ladybug/x', 'latin1'),
    Buffer.alloc(1020, 0x6b), Buffer.alloc(1025, 0x6b), Buffer.from('é'),
  ];
  const random = Array.from({ length: 24 }, () => Buffer.from(Array.from({ length: 1 + Math.floor(rng() * 5) }, () => pick(rng, ALPHABET))));
  return [...fixed, ...random];
}

export function makeValue(rng: Random): Buffer {
  const roll = rng();
  if (roll < 0.1) return Buffer.alloc(0);
  if (roll < 0.2) return Buffer.from(JSON.stringify({ n: Math.floor(rng() * 100) }));
  if (roll < 0.4) return Buffer.from(`v${Math.floor(rng() * 1000)}`);
  return Buffer.from(Array.from({ length: 1 + Math.floor(rng() * 12) }, () => Math.floor(rng() * 256)));
}

export const KEY_ENCODINGS = ['buffer', 'view', 'hex', 'utf8', 'base64'] as const;
export const VALUE_ENCODINGS = ['buffer', 'view', 'hex', 'utf8', 'base64', 'json'] as const;
export type Encoding = (typeof KEY_ENCODINGS)[number] | 'json';

function isUtf8(bytes: Buffer): boolean {
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

/**
 * The form of `bytes` that `encoding` encodes back to the same bytes, and the encoding
 * to name for it ('buffer' when the bytes have no such form: invalid UTF-8, not JSON).
 */
export function encodeAs(bytes: Buffer, encoding: Encoding): { data: unknown; encoding: Encoding } {
  switch (encoding) {
    case 'buffer': return { data: Buffer.from(bytes), encoding };
    case 'view': return { data: new Uint8Array(bytes), encoding };
    case 'hex': return { data: bytes.toString('hex'), encoding };
    case 'base64': return { data: bytes.toString('base64'), encoding };
    case 'utf8': return isUtf8(bytes) ? { data: bytes.toString('utf8'), encoding } : encodeAs(bytes, 'buffer');
    case 'json': {
      try {
        const parsed: unknown = JSON.parse(bytes.toString('utf8'));
        if (Buffer.from(JSON.stringify(parsed)).equals(bytes)) return { data: parsed, encoding };
      } catch {
        // not JSON: written as bytes
      }
      return encodeAs(bytes, 'buffer');
    }
  }
}

/** A range as the bytes of its bounds (gte over gt, lte over lt, as abstract-level takes them). */
export interface ByteRange {
  lower: { key: Buffer; inclusive: boolean } | undefined;
  upper: { key: Buffer; inclusive: boolean } | undefined;
}

export function inByteRange(key: Buffer, range: ByteRange): boolean {
  const { lower, upper } = range;
  if (lower !== undefined && Buffer.compare(key, lower.key) < (lower.inclusive ? 0 : 1)) return false;
  if (upper !== undefined && Buffer.compare(key, upper.key) > (upper.inclusive ? 0 : -1)) return false;
  return true;
}

/** Results in a form both databases must agree on exactly; a Buffer and a Uint8Array of the same bytes agree. */
export function normal(value: unknown): unknown {
  if (value === undefined) return '<undefined>';
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (Array.isArray(value)) return value.map(normal);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, field]) => typeof field !== 'function').map(([name, field]) => [name, normal(field)]));
  }
  return value;
}

/** An error as compared: its code (abstract-level's and ours are stable), and its cause's. */
export function normalError(error: unknown): string {
  const { code, cause } = error as { code?: string; cause?: { code?: string } };
  return `error:${code ?? String(error)}${cause?.code === undefined ? '' : `<${cause.code}`}`;
}
