/**
 * computeParity over an aligned stripe makes two word views in all (issue 12: a flush
 * of 4 KiB values seals a stripe every 8 entries, and two views per data page were
 * ~450 B of the flush thread's garbage per entry), and gives the same parity as the
 * page-by-page XOR on aligned and unaligned stripes alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { computeParity, xorInto } from '../src/stripe/parity.js';

const PAGE_BYTES = 4096;
const PAGES = 16;

/** Deterministic bytes (mulberry32's mixing of the index). */
function stripeBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.imul(index + seed, 0x9e3779b1) >>> 24;
  return bytes;
}

/** The parity as the definition says: page 0 XOR page 1 XOR ... byte by byte. */
function referenceParity(data: Uint8Array, pageBytes: number): Uint8Array {
  const parity = data.slice(0, pageBytes);
  for (let start = pageBytes; start < data.length; start += pageBytes) {
    for (let index = 0; index < pageBytes; index++) parity[index] = parity[index]! ^ data[start + index]!;
  }
  return parity;
}

const original = globalThis.BigUint64Array;
afterEach(() => {
  globalThis.BigUint64Array = original;
});

describe('computeParity', () => {
  it('makes two 64-bit views for a whole aligned stripe, not two per page', () => {
    let views = 0;
    globalThis.BigUint64Array = class extends original {
      constructor(...args: ConstructorParameters<typeof BigUint64Array>) {
        super(...args);
        views++;
      }
    } as typeof BigUint64Array;
    const data = stripeBytes(PAGES * PAGE_BYTES, 1);
    const parity = new Uint8Array(PAGE_BYTES);
    computeParity(data, PAGE_BYTES, parity);
    globalThis.BigUint64Array = original;
    expect(views).toBe(2);
    expect(parity).toEqual(referenceParity(data, PAGE_BYTES));
  });

  it('equals the page-by-page XOR for aligned, 4-byte aligned and unaligned stripes', () => {
    for (const [shift, pageBytes] of [[0, PAGE_BYTES], [4, PAGE_BYTES], [1, PAGE_BYTES], [0, 512], [3, 512]] as const) {
      const backing = stripeBytes(PAGES * pageBytes + 8, shift + pageBytes);
      const data = backing.subarray(shift, shift + PAGES * pageBytes);
      const parityBacking = new Uint8Array(pageBytes + 8);
      const parity = parityBacking.subarray(shift, shift + pageBytes);
      parity.fill(0xa5); // computeParity overwrites whatever was there
      computeParity(data, pageBytes, parity);
      expect(parity).toEqual(referenceParity(data, pageBytes));
      const byPage = data.slice(0, pageBytes);
      for (let start = pageBytes; start < data.length; start += pageBytes) xorInto(byPage, data.subarray(start, start + pageBytes));
      expect(parity).toEqual(byPage);
    }
  });
});
