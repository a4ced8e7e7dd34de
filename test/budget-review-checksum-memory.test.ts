/**
 * Hashing a large input (a batch's WAL record of tens of MiB, a block holding a value
 * near maxValueBytes) does not grow the process's memory for good: xxhash-wasm's
 * one-shot h64Raw copies its whole input into the WebAssembly memory, which never
 * shrinks, so one 40 MiB record left 40 MiB of memory outside the budget and every
 * stats() figure for the process's life. The checksum streams inputs over 1 MiB in
 * chunks, with the same result.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
const MEBIBYTE = 1024 * 1024;

function externalBytes(): number {
  collectGarbage();
  return process.memoryUsage().external;
}

describe('the checksum of a large input', () => {
  it('leaves no memory behind, and equals the one-shot hash', async () => {
    const hash = await loadHash64();
    hash(new Uint8Array(1024)); // the module's own memory, once
    const input = new Uint8Array(40 * MEBIBYTE);
    for (let index = 0; index < input.length; index += 4093) input[index] = index & 255;
    const before = externalBytes();
    const digest = hash(input);
    const grown = externalBytes() - before;
    console.log(`hashing 40 MiB grew external memory by ${(grown / MEBIBYTE).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(4 * MEBIBYTE);
    // Same results as the one-shot hash, around the chunk size and across it (up to 3 MiB: the reference grows its own memory that far).
    const reference = await xxhash();
    for (const length of [0, 1, 31, 32, 33, 4096, MEBIBYTE - 1, MEBIBYTE, MEBIBYTE + 1, 2 * MEBIBYTE + 17, 3 * MEBIBYTE]) {
      const slice = input.subarray(7, 7 + length);
      expect(hash(slice), `length ${length}`).toBe(reference.h64Raw(slice));
    }
    expect(typeof digest).toBe('bigint');
  });
});
