/**
 * Keys for the input fuzz (model-input-fuzz.test.ts): recipes a shrunk counterexample
 * prints as plain data, made into the real argument only when the call runs, and an
 * oracle that decides, apart from the store's own code, what each one must do: be the
 * key of its UTF-8 (string) or exact (Uint8Array, by its brand and its intrinsic length)
 * bytes, or be refused with InvalidKeyError and its README `reason`.
 */
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import type { InvalidKeyReason } from '../src/index.js';

export type KeyRecipe =
  | { key: 'string'; text: string }
  | { key: 'bytes'; bytes: number[] }
  | { key: 'special'; name: SpecialKeyName };

/** The intrinsic getters: a Uint8Array's own `length` property (or a subclass's getter) cannot lie to them. */
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsicByteLength = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteLength')!.get!;
const intrinsicByteOffset = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'byteOffset')!.get!;
const intrinsicBuffer = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')!.get!;

/** The bytes a real Uint8Array (by brand) holds, whatever its own properties say. */
export function trueBytes(view: Uint8Array): Uint8Array {
  // A detached view's length reads 0 and its buffer cannot be viewed again.
  if ((intrinsicByteLength.call(view) as number) === 0) return new Uint8Array(0);
  const buffer = intrinsicBuffer.call(view) as ArrayBufferLike;
  return new Uint8Array(buffer, intrinsicByteOffset.call(view) as number, intrinsicByteLength.call(view) as number).slice();
}

function detachedView(): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(4));
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

function lyingLength(bytes: number[], claimed: number): Uint8Array {
  return Object.defineProperty(new Uint8Array(bytes), 'length', { get: () => claimed });
}

class KeyBytes extends Uint8Array {}
/** A resizable ArrayBuffer (the lib this project compiles against does not type the options). */
const ResizableBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;

const SPECIAL_KEYS = {
  'empty-string': () => '',
  'empty-bytes': () => new Uint8Array(0),
  'ascii-1024': () => 'k'.repeat(1024),
  'ascii-1025': () => 'k'.repeat(1025),
  'two-byte-1024': () => '\u00e9'.repeat(512),
  'two-byte-1025': () => 'a' + '\u00e9'.repeat(512),
  'four-byte-1024': () => '\u{1f600}'.repeat(256),
  'four-byte-1026': () => 'ab' + '\u{1f600}'.repeat(256),
  'bytes-1024': () => new Uint8Array(1024).fill(0xff),
  'bytes-1025': () => new Uint8Array(1025).fill(1),
  'lone-high': () => 'a\ud800',
  'lone-low': () => '\udc00b',
  'reversed-pair': () => '\udc00\ud800',
  'number': () => 7,
  'null': () => null,
  'undefined': () => undefined,
  'symbol': () => Symbol('k'),
  'object': () => ({ key: 'a' }),
  'array': () => [97],
  'bigint': () => 97n,
  'boxed-string': () => new String('a'),
  'int8array': () => new Int8Array([97]),
  'uint16array': () => new Uint16Array([97]),
  'clamped': () => new Uint8ClampedArray([97]),
  'dataview': () => new DataView(new ArrayBuffer(1)),
  'arraybuffer': () => new ArrayBuffer(1),
  'shared-view': () => new Uint8Array(new SharedArrayBuffer(2)).fill(0x61),
  'detached-view': detachedView,
  'proxied-view': () => new Proxy(new Uint8Array([0x61, 0x62]), {}),
  'length-over': () => lyingLength([0x61, 0x62], 5),
  'length-under': () => lyingLength([0x61, 0x62, 0x63], 1),
  'buffer': () => Buffer.from('a'),
  'offset-view': () => new Uint8Array([1, 0x61, 0x80, 2]).subarray(1, 3),
  'subclass-view': () => new KeyBytes([0x61]),
  'resizable-view': () => new Uint8Array(new ResizableBuffer(2, { maxByteLength: 8 })).fill(0x62),
  'frozen-empty-view': () => Object.freeze(new Uint8Array(0)),
} as const satisfies Record<string, () => unknown>;

export type SpecialKeyName = keyof typeof SPECIAL_KEYS;

export function makeKey(recipe: KeyRecipe): unknown {
  if (recipe.key === 'string') return recipe.text;
  if (recipe.key === 'bytes') return new Uint8Array(recipe.bytes);
  return SPECIAL_KEYS[recipe.name]();
}

export type KeyVerdict = { ok: true; bytes: Uint8Array } | { ok: false; reason: InvalidKeyReason };

/** What the README says the key must do: its bytes, or the InvalidKeyError reason. */
export function keyVerdict(key: unknown): KeyVerdict {
  let bytes: Uint8Array;
  if (typeof key === 'string') {
    if (/\p{Cs}/u.test(key)) return { ok: false, reason: 'malformed' };
    bytes = new Uint8Array(Buffer.from(key, 'utf8'));
  } else if (types.isUint8Array(key) && !types.isProxy(key)) {
    bytes = trueBytes(key);
  } else {
    return { ok: false, reason: 'type' };
  }
  if (bytes.length === 0) return { ok: false, reason: 'empty' };
  if (bytes.length > 1024) return { ok: false, reason: 'too-long' };
  // Keys under "\u0000ladybug/" are the store's own (lease records): never generated here.
  return { ok: true, bytes };
}

/** A few short keys, so that generated writes land on the same keys as the known contents. */
const SHORT_TEXTS = ['a', 'b', 'k', '\u00e9', 'a\u0000', 'zz', '\u{1f600}'];

export const keyRecipe: fc.Arbitrary<KeyRecipe> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SHORT_TEXTS).map((text): KeyRecipe => ({ key: 'string', text })) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }).map((text): KeyRecipe => ({ key: 'string', text })) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(0x00, 0x61, 0x7f, 0x80, 0xc3, 0xa9, 0xff), { minLength: 1, maxLength: 3 }).map((bytes): KeyRecipe => ({ key: 'bytes', bytes })) },
  { weight: 4, arbitrary: fc.constantFrom(...(Object.keys(SPECIAL_KEYS) as SpecialKeyName[])).map((name): KeyRecipe => ({ key: 'special', name })) },
);

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
