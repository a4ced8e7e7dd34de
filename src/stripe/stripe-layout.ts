/**
 * Where the pages of a striped file live (docs/FORMAT.md, "Stripes and parity").
 *
 * The blocks of a run (data, index, filter) are laid out in *logical* pages:
 * logical page n is position n mod K of stripe floor(n / K), K = stripeDataPages.
 * On disk every stripe is its K data pages followed by its parity page, so
 *
 *   physical page of logical page n = floor(n / K) * (K + 1) + n mod K
 *   physical page of stripe s's parity = s * (K + 1) + K
 *
 * The last stripe is padded with zero pages to K data pages, so the striped area
 * is always whole stripes. Offsets in the index, the footer and the checksums are
 * logical byte offsets; only reads and writes of the file see physical ones.
 *
 * Invariants: K in [STRIPE_DATA_PAGES_MIN, STRIPE_DATA_PAGES_MAX]; the mapping is
 * a bijection between logical pages and non-parity physical pages.
 */
import { assert } from '../util/assert.js';
import { STRIPE_DATA_PAGES_MAX, STRIPE_DATA_PAGES_MIN } from './parity.js';

export class StripeLayout {
  readonly stripeDataPages: number;
  readonly pageBytes: number;

  constructor(stripeDataPages: number, pageBytes: number) {
    assert(
      Number.isInteger(stripeDataPages) && stripeDataPages >= STRIPE_DATA_PAGES_MIN && stripeDataPages <= STRIPE_DATA_PAGES_MAX,
      `stripe data pages within bounds: ${stripeDataPages}`,
    );
    assert(Number.isInteger(pageBytes) && pageBytes > 0 && pageBytes % 8 === 0, 'page size is whole 64-bit words');
    this.stripeDataPages = stripeDataPages;
    this.pageBytes = pageBytes;
  }

  /** Physical pages of one stripe (data pages and the parity page). */
  get stripePages(): number {
    return this.stripeDataPages + 1;
  }

  get stripeBytes(): number {
    return this.stripePages * this.pageBytes;
  }

  stripeOfLogicalPage(logicalPage: number): number {
    return Math.floor(logicalPage / this.stripeDataPages);
  }

  physicalPage(logicalPage: number): number {
    assert(Number.isSafeInteger(logicalPage) && logicalPage >= 0, 'logical page is a non-negative integer');
    return this.stripeOfLogicalPage(logicalPage) * this.stripePages + (logicalPage % this.stripeDataPages);
  }

  physicalOffset(logicalOffset: number): number {
    assert(logicalOffset % this.pageBytes === 0, 'logical offsets are page-aligned');
    return this.physicalPage(logicalOffset / this.pageBytes) * this.pageBytes;
  }

  /** Byte offset of stripe `stripe`'s first page. */
  stripeOffset(stripe: number): number {
    return stripe * this.stripeBytes;
  }

  /** Stripes needed for `logicalPages` pages (at least one). */
  stripeCount(logicalPages: number): number {
    return Math.max(1, Math.ceil(logicalPages / this.stripeDataPages));
  }

  /**
   * The physical extents holding logical bytes [logicalOffset, logicalOffset + lengthBytes),
   * in order, each inside one stripe's data pages (any byte range: the packed data
   * blocks of run format 4 need not start or end on a page).
   */
  extents(logicalOffset: number, lengthBytes: number): Array<{ physicalOffset: number; lengthBytes: number }> {
    assert(Number.isSafeInteger(logicalOffset) && logicalOffset >= 0 && Number.isSafeInteger(lengthBytes) && lengthBytes >= 0, 'a byte range');
    const result: Array<{ physicalOffset: number; lengthBytes: number }> = [];
    const stripeDataBytes = this.stripeDataPages * this.pageBytes;
    let offset = logicalOffset;
    let remaining = lengthBytes;
    while (remaining > 0) {
      // Bytes left in this stripe's data pages (packed blocks of format 4 start anywhere).
      const inStripe = Math.min(remaining, stripeDataBytes - (offset % stripeDataBytes));
      const page = Math.floor(offset / this.pageBytes);
      result.push({ physicalOffset: this.physicalPage(page) * this.pageBytes + (offset - page * this.pageBytes), lengthBytes: inStripe });
      offset += inStripe;
      remaining -= inStripe;
    }
    return result;
  }
}
