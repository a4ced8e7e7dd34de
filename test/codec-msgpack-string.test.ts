/**
 * String values are written into WAL records by src/codec/msgpack-string.ts, not by
 * msgpackr (issue 7: no Buffer per string put). The bytes must be msgpackr's, at
 * every header size (fixstr, str8, str16, str32) and for one-, two-, three- and
 * four-byte UTF-8 characters, around each length boundary; and a store reads the
 * values back unchanged after a reopen (the WAL is replayed through msgpackr).
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { encodedStringSizeBytes, writeEncodedString } from '../src/codec/msgpack-string.js';
import { prepareValue } from '../src/codec/values.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** Strings of about `lengthBytes` UTF-8 bytes made of `unit`, around each boundary. */
function stringsNear(lengthBytes: number, unit: string): string[] {
  const unitBytes = Buffer.byteLength(unit, 'utf8');
  const count = Math.floor(lengthBytes / unitBytes);
  return [count - 1, count, count + 1].filter((repeat) => repeat >= 0).map((repeat) => unit.repeat(repeat));
}

describe('string values written into the WAL', () => {
  it('are encoded byte for byte as msgpackr encodes them, at every header size', () => {
    const units = ['a', '\u00e9', '\u20ac', '\u{1F600}', 'a\u00e9\u20ac\u{1F600}'];
    const boundaries = [0, 1, 31, 32, 33, 255, 256, 257, 65_535, 65_536, 65_537, 200_000];
    let checked = 0;
    for (const unit of units) {
      for (const boundary of boundaries) {
        for (const text of stringsNear(boundary, unit)) {
          const expected = Buffer.from(prepareValue(text, 1 << 30).encoded);
          expect(encodedStringSizeBytes(text)).toBe(expected.length);
          const target = Buffer.alloc(expected.length + 7, 0xee);
          expect(writeEncodedString(text, target, 3)).toBe(expected.length);
          expect(target.subarray(3, 3 + expected.length).equals(expected), `${unit} x ${text.length}`).toBe(true);
          expect(target[2]).toBe(0xee);
          expect(target[3 + expected.length]).toBe(0xee);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it('a store reads string values back unchanged, before and after a reopen', async () => {
    const directory = temporaryDirectory();
    const values = ['', 'plain', '\u00e9t\u00e9', '\u{1F600}'.repeat(40), 'x'.repeat(70_000), 'mixed \u20ac'.repeat(30)];
    let store = await openStore(directory, { checkpointOnClose: false });
    await store.batch(values.map((value, index) => ({ type: 'put' as const, key: `batch-${index}`, value })));
    for (const [index, value] of values.entries()) await store.put(`put-${index}`, value);
    for (const [index, value] of values.entries()) {
      expect(await store.get(`batch-${index}`)).toBe(value);
      expect(await store.get(`put-${index}`)).toBe(value);
    }
    await store.close();
    store = await openStore(directory);
    try {
      for (const [index, value] of values.entries()) {
        expect(await store.get(`batch-${index}`)).toBe(value);
        expect(await store.get(`put-${index}`)).toBe(value);
      }
    } finally {
      await store.close();
    }
  });
});
