/**
 * Bloom filter probes (src/run/bloom-filter.ts): the incremental probe loop (one
 * modulo per key, not per probe) sets and tests exactly the bits of the defining
 * formula (h1 + i * h2) mod bitCount, including bit counts near 2^32 and halves near
 * 2^32 where a wrong wrap-around would show; filters written before read the same.
 */
import { describe, expect, it } from 'vitest';
import { bloomAdd, bloomMayContain, bloomMayContainHalves, bloomProbeBit, RUN_BLOOM_PROBES } from '../src/run/bloom-filter.js';

/** Deterministic u32 stream (xorshift32). */
function randomU32s(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}

/** The bits the defining formula sets, as a filter of `bitCount` bits. */
function referenceFilter(bitCount: number, probes: number, halves: Array<[number, number]>): Uint8Array {
  const bits = new Uint8Array(bitCount / 8);
  for (const [first, step] of halves) {
    for (let probe = 0; probe < probes; probe++) {
      const bit = bloomProbeBit(first, step, probe, bitCount);
      bits[bit >>> 3]! |= 1 << (bit & 7);
    }
  }
  return bits;
}

function hashOf(first: number, step: number): bigint {
  return (BigInt(step >>> 0) << 32n) | BigInt(first >>> 0);
}

describe('bloom filter probes', () => {
  it('bloomAdd sets exactly the bits of (h1 + i * h2) mod bitCount', () => {
    const next = randomU32s(7);
    for (const bitCount of [64, 72, 8000, 1 << 20, 999_992]) {
      const halves: Array<[number, number]> = [];
      const bits = new Uint8Array(bitCount / 8);
      for (let key = 0; key < 200; key++) {
        const first = next();
        const step = (next() | 1) >>> 0;
        halves.push([first, step]);
        bloomAdd(bits, RUN_BLOOM_PROBES, hashOf(first, step));
      }
      expect(bits).toEqual(referenceFilter(bitCount, RUN_BLOOM_PROBES, halves));
    }
  });

  it('probes wrap exactly at the largest bit counts and hash halves (no float drift, one subtraction enough)', () => {
    const bitCount = 2 ** 32 - 8;
    for (const [first, step] of [[0xffffffff, 0xffffffff], [0xfffffff7, 0xfffffff9], [3, 0xfffffff7], [0xfffffff8, 1]] as Array<[number, number]>) {
      for (let probes = 1; probes <= 32; probes++) {
        // One byte around each reference bit is enough to tell which bits the loop tests: a filter with only the reference bits set answers true, and clearing any one of them answers false.
        const wanted = Array.from({ length: probes }, (_, probe) => bloomProbeBit(first, step, probe, bitCount));
        const sparse = new Proxy(new Uint8Array(0), {
          get(target, property) {
            if (property === 'length') return bitCount / 8;
            if (typeof property === 'string' && /^\d+$/.test(property)) {
              const byte = Number(property);
              let value = 0;
              for (const bit of wanted) if (bit >>> 3 === byte) value |= 1 << (bit & 7);
              return value;
            }
            return Reflect.get(target, property);
          },
        });
        expect(bloomMayContainHalves(sparse, probes, first, step)).toBe(true);
      }
    }
  });

  it('a filter built by the defining formula answers every added key, and the same as bloomMayContain for others', () => {
    const next = randomU32s(99);
    const bitCount = 4096;
    const added: Array<[number, number]> = [];
    for (let key = 0; key < 300; key++) added.push([next(), (next() | 1) >>> 0]);
    const bits = referenceFilter(bitCount, RUN_BLOOM_PROBES, added);
    for (const [first, step] of added) expect(bloomMayContain(bits, RUN_BLOOM_PROBES, hashOf(first, step))).toBe(true);
    let agreements = 0;
    for (let other = 0; other < 2000; other++) {
      const first = next();
      const step = (next() | 1) >>> 0;
      let expected = true;
      for (let probe = 0; probe < RUN_BLOOM_PROBES; probe++) {
        const bit = bloomProbeBit(first, step, probe, bitCount);
        if (((bits[bit >>> 3] as number) & (1 << (bit & 7))) === 0) expected = false;
      }
      expect(bloomMayContainHalves(bits, RUN_BLOOM_PROBES, first, step)).toBe(expected);
      agreements++;
    }
    expect(agreements).toBe(2000);
  });
});
