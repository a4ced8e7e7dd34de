/** Damage for the review4 tests: flip one byte of a file in place (all bits inverted). */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/** Inverts the byte at `offset` of `file` (a negative offset counts from the end). */
export function flipByte(file: string, offset: number): void {
  const handle = openSync(file, 'r+');
  try {
    const at = offset < 0 ? fstatSync(handle).size + offset : offset;
    const byte = Buffer.alloc(1);
    readSync(handle, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(handle, byte, 0, 1, at);
  } finally {
    closeSync(handle);
  }
}
