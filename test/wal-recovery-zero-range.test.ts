/**
 * isZeroRange (wal-recovery.ts) compares a segment's bytes with zeros 64 KiB at a time
 * (Buffer#compare) where isZero (wal-format.ts) walks them byte by byte: the same answer
 * for every range, one non-zero byte anywhere (either side of each 64 KiB boundary,
 * first and last byte of the range, just outside it), empty and reversed ranges.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { isZero } from '../src/wal/wal-format.js';
import { isZeroRange } from '../src/wal/wal-recovery.js';

const CHUNK = 64 * 1024;

describe('isZeroRange', () => {
  it('answers as isZero for one non-zero byte at every interesting place of several ranges', () => {
    const image = Buffer.alloc(3 * CHUNK + 1000);
    const ranges: Array<[number, number]> = [[64, image.length], [0, image.length], [CHUNK - 1, 2 * CHUNK + 1], [100, 100], [200, 100], [5, 6], [64, CHUNK + 64]];
    const places = new Set<number>([0, 1, 63, 64, 65, image.length - 1, image.length - 2]);
    for (let boundary = CHUNK; boundary < image.length; boundary += CHUNK) {
      for (const delta of [-65, -64, -1, 0, 1, 63, 64]) places.add(boundary + delta);
    }
    for (const [start, end] of ranges) {
      places.add(start - 1).add(start).add(end - 1).add(end);
      places.add(start + CHUNK - 1).add(start + CHUNK);
    }
    let checked = 0;
    for (const [start, end] of ranges) {
      expect(isZeroRange(image, start, end), `zeros ${start}..${end}`).toBe(true);
      for (const place of places) {
        if (place < 0 || place >= image.length) continue;
        for (const byte of [1, 0x80, 0xff]) {
          image[place] = byte;
          expect(isZeroRange(image, start, end), `byte ${byte} at ${place} in ${start}..${end}`).toBe(isZero(image, start, end));
          image[place] = 0;
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('answers as isZero on random sparse images', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let round = 0; round < 50; round++) {
      const image = Buffer.alloc(Math.floor(random() * 4 * CHUNK));
      const nonZero = Math.floor(random() * 3);
      for (let index = 0; index < nonZero; index++) image[Math.floor(random() * image.length)] = 1 + Math.floor(random() * 255);
      const start = Math.floor(random() * image.length);
      const end = start + Math.floor(random() * (image.length - start + 1));
      expect(isZeroRange(image, start, end)).toBe(isZero(image, start, end));
      expect(isZeroRange(image, 0, image.length)).toBe(isZero(image, 0, image.length));
    }
  });
});
