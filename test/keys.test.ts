/**
 * src/codec/keys.ts: validation and the internal "byte string" key form.
 *
 * The property that matters most: comparing internal keys with JS `<` orders them
 * exactly as their UTF-8 bytes, including the case where UTF-16 order and UTF-8
 * order disagree (a non-BMP char, UTF-16 D800..DBFF, against U+E000..U+FFFF).
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { externalKey, internalKey, internalKeyFromBytes, keyBytes, stringKey } from '../src/codec/keys.js';
import { ErrorCode, InvalidKeyError, KeyEncodingError } from '../src/errors.js';
import { KEY_BYTES_MAX } from '../src/limits.js';

function compare(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function utf8Compare(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

/** Code points that stress the ordering: ASCII, 2- and 3-byte chars, the private-use area, non-BMP. */
const interestingCodePoint = fc.oneof(
  fc.constantFrom(0x00, 0x41, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xf8ff, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff),
  fc.integer({ min: 0, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0x10ffff }),
);
const wellFormedString = fc.array(interestingCodePoint, { minLength: 1, maxLength: 12 }).map((points) => String.fromCodePoint(...points));

function expectInvalidKey(action: () => unknown, reason: string): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidKeyError);
  expect(thrown).toBeInstanceOf(TypeError);
  const error = thrown as InvalidKeyError;
  expect(error.code).toBe(ErrorCode.InvalidKey);
  expect(error.code).toBe('LADYBUG_INVALID_KEY');
  expect(error.reason).toBe(reason);
  expect(error.name).toBe('InvalidKeyError');
}

describe('internal key order', () => {
  it('is UTF-8 byte order, where UTF-16 order disagrees (non-BMP vs U+E000..U+FFFF)', () => {
    const nonBmp = '\u{10000}';
    const privateUse = '\uE000';
    const lastBmp = '\uFFFF';
    // JS compares UTF-16 code units: a surrogate (D800) sorts below E000.
    expect(nonBmp < privateUse).toBe(true);
    // UTF-8: F0 90 80 80 sorts above EE 80 80 and EF BF BF.
    expect(internalKey(nonBmp) > internalKey(privateUse)).toBe(true);
    expect(internalKey(nonBmp) > internalKey(lastBmp)).toBe(true);
    expect(internalKey('a\u{1F600}') > internalKey('a\uFFFD')).toBe(true);
    expect(internalKey('a') < internalKey('a\u0000')).toBe(true);
    expect(internalKey('\u007f') < internalKey('\u0080')).toBe(true);
  });

  it('matches Buffer.compare of the UTF-8 encodings for arbitrary well-formed strings', () => {
    fc.assert(
      fc.property(wellFormedString, wellFormedString, (left, right) => {
        expect(Math.sign(compare(internalKey(left), internalKey(right)))).toBe(Math.sign(utf8Compare(left, right)));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches Buffer.compare for arbitrary binary keys', () => {
    const bytes = fc.uint8Array({ minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(bytes, bytes, (left, right) => {
        expect(Math.sign(compare(internalKey(left), internalKey(right)))).toBe(Math.sign(Buffer.compare(left, right)));
      }),
      { numRuns: 1000 },
    );
  });

  it('sorts a mixed list exactly as the UTF-8 sort does', () => {
    const keys = ['\uFFFF', 'b', '\u{10000}', 'a', '\uE000', '\u00e9', 'ab', '\u{1F600}', 'a\u0000', '\u07ff', '\u0800'];
    const byInternal = [...keys].sort((left, right) => compare(internalKey(left), internalKey(right)));
    const byUtf8 = [...keys].sort(utf8Compare);
    expect(byInternal).toEqual(byUtf8);
    expect(byInternal).toEqual(['a', 'a\u0000', 'ab', 'b', '\u00e9', '\u07ff', '\u0800', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}']);
  });
});

describe('round trips', () => {
  it('stringKey(internalKey(s)) === s and the bytes are the UTF-8 encoding', () => {
    fc.assert(
      fc.property(wellFormedString, (text) => {
        const internal = internalKey(text);
        expect(stringKey(internal)).toBe(text);
        expect(Buffer.compare(keyBytes(internal), Buffer.from(text, 'utf8'))).toBe(0);
        expect(internalKeyFromBytes(keyBytes(internal))).toBe(internal);
        for (let index = 0; index < internal.length; index++) expect(internal.charCodeAt(index)).toBeLessThan(256);
      }),
      { numRuns: 1000 },
    );
  });

  it('ASCII keys are their own internal form', () => {
    expect(internalKey('hello/world')).toBe('hello/world');
    expect(stringKey('hello/world')).toBe('hello/world');
  });

  it('binary keys round trip byte for byte, honouring byteOffset of a view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const internal = internalKey(bytes);
        expect(internal.length).toBe(bytes.length);
        expect([...keyBytes(internal)]).toEqual([...bytes]);
        expect([...(externalKey(internal, 'binary') as Uint8Array)]).toEqual([...bytes]);
      }),
      { numRuns: 500 },
    );
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    expect([...keyBytes(internalKey(view))]).toEqual([1, 2, 3]);
    // Mutating the caller's array afterwards does not change an internal key already made.
    const internal = internalKey(view);
    backing[2] = 7;
    expect([...keyBytes(internal)]).toEqual([1, 2, 3]);
  });

  it('a string key and the binary key of its UTF-8 bytes are the same key', () => {
    expect(internalKey('\u00e9t\u00e9')).toBe(internalKey(new Uint8Array([0xc3, 0xa9, 0x74, 0xc3, 0xa9])));
    expect(internalKey(Buffer.from('\u{1F600}', 'utf8'))).toBe(internalKey('\u{1F600}'));
  });

  it('externalKey gives a string for utf8 (KeyEncodingError for bytes that are not UTF-8) and bytes for binary', () => {
    const internal = internalKey(new Uint8Array([0x61, 0xff]));
    // Not U+FFFD: 'a\uFFFD' is a different key, and [0x61, 0xfe] would map to it too.
    let thrown: unknown;
    try {
      externalKey(internal, 'utf8');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeyEncodingError);
    expect((thrown as KeyEncodingError).code).toBe('LADYBUG_KEY_NOT_UTF8');
    expect([...(thrown as KeyEncodingError).keyBytes]).toEqual([0x61, 0xff]);
    expect((thrown as KeyEncodingError).message).toContain("keyEncoding: 'binary'");
    const binary = externalKey(internal, 'binary');
    expect(binary).toBeInstanceOf(Uint8Array);
    expect([...(binary as Uint8Array)]).toEqual([0x61, 0xff]);
    expect(externalKey(internalKey('\u{10000}x'), 'utf8')).toBe('\u{10000}x');
  });
});

describe('limits and errors', () => {
  it('accepts a key of exactly KEY_BYTES_MAX bytes and refuses one byte more', () => {
    expect(internalKey('k'.repeat(KEY_BYTES_MAX)).length).toBe(KEY_BYTES_MAX);
    expect(internalKey(new Uint8Array(KEY_BYTES_MAX)).length).toBe(KEY_BYTES_MAX);
    expectInvalidKey(() => internalKey('k'.repeat(KEY_BYTES_MAX + 1)), 'too-long');
    expectInvalidKey(() => internalKey(new Uint8Array(KEY_BYTES_MAX + 1)), 'too-long');
  });

  it('counts the limit in UTF-8 bytes, not UTF-16 units', () => {
    // U+00E9 is 2 bytes: 512 of them are exactly the limit, 513 are over it (513 units < 1024).
    expect(internalKey('\u00e9'.repeat(KEY_BYTES_MAX / 2)).length).toBe(KEY_BYTES_MAX);
    expectInvalidKey(() => internalKey('\u00e9'.repeat(KEY_BYTES_MAX / 2 + 1)), 'too-long');
    // U+1F600 is 4 bytes and 2 UTF-16 units.
    expect(internalKey('\u{1F600}'.repeat(KEY_BYTES_MAX / 4)).length).toBe(KEY_BYTES_MAX);
    expectInvalidKey(() => internalKey('\u{1F600}'.repeat(KEY_BYTES_MAX / 4 + 1)), 'too-long');
    // U+E000 is 3 bytes.
    expectInvalidKey(() => internalKey('\uE000'.repeat(342)), 'too-long');
    expect(internalKey('\uE000'.repeat(341)).length).toBe(1023);
  });

  it('refuses empty keys', () => {
    expectInvalidKey(() => internalKey(''), 'empty');
    expectInvalidKey(() => internalKey(new Uint8Array(0)), 'empty');
  });

  it('refuses lone surrogates (no UTF-8 form) but accepts well-formed pairs', () => {
    expectInvalidKey(() => internalKey('\uD800'), 'malformed');
    expectInvalidKey(() => internalKey('a\uDC00b'), 'malformed');
    expectInvalidKey(() => internalKey('\uDBFF\uDBFF\uDFFF'), 'malformed');
    expectInvalidKey(() => internalKey('x\uD83D'), 'malformed');
    expect(stringKey(internalKey('\uD83D\uDE00'))).toBe('\u{1F600}');
  });

  it('refuses keys that are neither strings nor Uint8Arrays', () => {
    for (const bad of [undefined, null, 1, 1n, true, {}, [1, 2], Symbol('k'), new ArrayBuffer(2), new Uint16Array(2)]) {
      expectInvalidKey(() => internalKey(bad), 'type');
    }
  });
});
