/**
 * XOR parity over the pages of a stripe (docs/FORMAT.md, "Stripes and parity").
 *
 * A stripe is `stripeDataPages` data pages followed by one parity page; the parity
 * page is the XOR of the data pages, so any one page of the stripe (a data page or
 * the parity page) equals the XOR of all the others.
 *
 * The XOR runs over 64-bit words (BigUint64Array views) when both buffers are
 * 8-byte aligned, else over 32-bit words, else bytes: measured in
 * test/stripe-parity.test.ts (ANCHORS: Uint8Array 0.27 GB/s, Uint32Array
 * 1.3-1.7 GB/s, BigUint64Array 1.7-3.9 GB/s).
 *
 * Invariants: every buffer is a whole number of pages of the same length; the
 * functions never allocate per page.
 */
import { assert } from '../util/assert.js';

/**
 * Data pages per stripe by default: parity costs 1/16 = 6.25% more bytes. It was 8
 * (12.5%) until the compaction space targets (disk/live <= 1.3 after compaction)
 * were measured: run files were 1.31x the live data at K=8, of which parity was
 * 12.5 points. One bad page per 64 KiB stripe is repairable; a rebuild reads 16 pages.
 */
export const STRIPE_DATA_PAGES_DEFAULT = 16;
/** Bounds of the `stripeDataPages` option. */
export const STRIPE_DATA_PAGES_MIN = 2;
export const STRIPE_DATA_PAGES_MAX = 64;

assert(STRIPE_DATA_PAGES_MIN <= STRIPE_DATA_PAGES_DEFAULT && STRIPE_DATA_PAGES_DEFAULT <= STRIPE_DATA_PAGES_MAX, 'stripe width default within its bounds');

function words64(bytes: Uint8Array): BigUint64Array {
  return new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
}

function words32(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** target ^= source, over the widest word both buffers are aligned to. */
export function xorInto(target: Uint8Array, source: Uint8Array): void {
  assert(target.byteLength === source.byteLength, 'xor operands have the same length');
  const length = target.byteLength;
  if (length % 8 === 0 && target.byteOffset % 8 === 0 && source.byteOffset % 8 === 0) {
    const into = words64(target);
    const from = words64(source);
    for (let index = 0; index < into.length; index++) into[index] = (into[index] as bigint) ^ (from[index] as bigint);
    return;
  }
  if (length % 4 === 0 && target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    const into = words32(target);
    const from = words32(source);
    for (let index = 0; index < into.length; index++) into[index] = (into[index] as number) ^ (from[index] as number);
    return;
  }
  for (let index = 0; index < length; index++) target[index] = (target[index] as number) ^ (source[index] as number);
}

/** target ^= source over 32-bit words (for the throughput comparison; same result as xorInto). */
export function xorInto32(target: Uint8Array, source: Uint8Array): void {
  assert(target.byteLength === source.byteLength && target.byteLength % 4 === 0, 'xor operands: same length, whole words');
  assert(target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0, 'xor operands are 4-byte aligned');
  const into = words32(target);
  const from = words32(source);
  for (let index = 0; index < into.length; index++) into[index] = (into[index] as number) ^ (from[index] as number);
}

/**
 * Writes into `parity` the XOR of the `pageCount` pages of `pageBytes` each that
 * `dataPages` holds back to back.
 */
export function computeParity(dataPages: Uint8Array, pageBytes: number, parity: Uint8Array): void {
  assert(parity.byteLength === pageBytes, 'the parity buffer is one page');
  assert(dataPages.byteLength > 0 && dataPages.byteLength % pageBytes === 0, 'the data is whole pages');
  parity.set(dataPages.subarray(0, pageBytes));
  if (pageBytes % 8 === 0 && dataPages.byteOffset % 8 === 0 && parity.byteOffset % 8 === 0) {
    // One view over all the data pages, not two per page: a flush of 4 KiB values seals a
    // stripe every 8 entries, and the per-page views were ~450 B of garbage per entry.
    const into = words64(parity);
    const from = words64(dataPages);
    const pageWords = into.length;
    // Eight words a step where the page allows (every run page does): the one-word loop
    // ran at 3.9-4.9 GB/s, eight a step at 7.6-8.6 (a 16-page stripe of 4 KiB pages, thread
    // CPU, fastest of two passes each). V8 keeps the ^= of BigUint64Array elements in
    // 64-bit registers, no BigInt made; a BigInt held in a local across pages is not.
    const unrolled = pageWords % 8 === 0;
    for (let start = pageWords; start < from.length; start += pageWords) {
      if (unrolled) {
        for (let index = 0; index < pageWords; index += 8) {
          const at = start + index;
          into[index]! ^= from[at]!;
          into[index + 1]! ^= from[at + 1]!;
          into[index + 2]! ^= from[at + 2]!;
          into[index + 3]! ^= from[at + 3]!;
          into[index + 4]! ^= from[at + 4]!;
          into[index + 5]! ^= from[at + 5]!;
          into[index + 6]! ^= from[at + 6]!;
          into[index + 7]! ^= from[at + 7]!;
        }
      } else {
        for (let index = 0; index < pageWords; index++) into[index] = (into[index] as bigint) ^ (from[start + index] as bigint);
      }
    }
    return;
  }
  for (let start = pageBytes; start < dataPages.byteLength; start += pageBytes) {
    xorInto(parity, dataPages.subarray(start, start + pageBytes));
  }
}

/**
 * Rebuilds page `missing` of a stripe given as its pages (data pages then the
 * parity page): the XOR of every other page. Every other page must be present.
 */
export function rebuildPage(stripePages: ReadonlyArray<Uint8Array | undefined>, missing: number, into: Uint8Array): void {
  assert(missing >= 0 && missing < stripePages.length, 'the missing page is in the stripe');
  into.fill(0);
  for (let page = 0; page < stripePages.length; page++) {
    if (page === missing) continue;
    const bytes = stripePages[page];
    assert(bytes !== undefined, 'every other page of the stripe was read');
    xorInto(into, bytes);
  }
}
