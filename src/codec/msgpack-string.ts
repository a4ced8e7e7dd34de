/**
 * A string value's msgpack encoding, written straight into its WAL record (issue 7:
 * a string put no longer packs into a Buffer view that the WAL copies again).
 *
 * Invariant: the bytes are exactly msgpackr's for the same string (codec/values.ts
 * packs with it; test/codec-msgpack-string.test.ts compares them at every header
 * size): a str header chosen by the UTF-8 length (fixstr 0xa0|n below 32 bytes, str8
 * 0xd9 below 256, str16 0xda below 65,536, else str32 0xdb; lengths big-endian),
 * then the UTF-8 bytes. REQUIRES: the string has no lone surrogate (checkValueShape
 * refuses such values), so Node's UTF-8 encoder writes what msgpackr writes.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';

const FIXSTR = 0xa0;
const STR_8 = 0xd9;
const STR_16 = 0xda;
const STR_32 = 0xdb;
const FIXSTR_LENGTH_LIMIT = 0x20;
const STR_8_LENGTH_LIMIT = 0x100;
const STR_16_LENGTH_LIMIT = 0x10000;

function headerBytes(lengthBytes: number): number {
  if (lengthBytes < FIXSTR_LENGTH_LIMIT) return 1;
  if (lengthBytes < STR_8_LENGTH_LIMIT) return 2;
  return lengthBytes < STR_16_LENGTH_LIMIT ? 3 : 5;
}

/** Bytes of the msgpack encoding of `text`. */
export function encodedStringSizeBytes(text: string): number {
  const lengthBytes = Buffer.byteLength(text, 'utf8');
  return headerBytes(lengthBytes) + lengthBytes;
}

/** Writes the msgpack encoding of `text` into `target` at `offset`; returns its length. REQUIRES: room for it. */
export function writeEncodedString(text: string, target: Buffer, offset: number): number {
  const lengthBytes = Buffer.byteLength(text, 'utf8');
  const header = headerBytes(lengthBytes);
  if (header === 1) target[offset] = FIXSTR | lengthBytes;
  else if (header === 2) {
    target[offset] = STR_8;
    target[offset + 1] = lengthBytes;
  } else if (header === 3) {
    target[offset] = STR_16;
    target.writeUInt16BE(lengthBytes, offset + 1);
  } else {
    target[offset] = STR_32;
    target.writeUInt32BE(lengthBytes, offset + 1);
  }
  const written = target.write(text, offset + header, lengthBytes, 'utf8');
  assert(written === lengthBytes, 'a string value is written whole');
  return header + lengthBytes;
}
