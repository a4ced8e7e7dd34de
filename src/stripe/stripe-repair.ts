/**
 * Rebuilding a damaged block from its stripes (docs/FORMAT.md, "Repair").
 *
 * Given a block (logical pages) that failed its check or could not be read, read
 * every stripe it touches whole (K data pages + parity; page by page where a read
 * fails, so one unreadable page does not hide the others), then:
 * - a page that cannot be read must be rebuilt: allowed when it is the only
 *   unreadable page of its stripe (XOR of the other K pages);
 * - the block's bytes as read (unreadable pages rebuilt) are tried first (the first
 *   failure may have been transient), then, for each page of the block in a stripe
 *   with no unreadable page, the block with that page rebuilt too.
 * A candidate is accepted only if `check` (the parent's checksum) passes, so a
 * rebuild from a stripe with a second bad page, or with a bad parity page, is
 * refused rather than returned: never wrong data.
 *
 * Write-back (format 4, where blocks share pages): a readable page rebuilt to pass the
 * check is handed back with its bytes as read too, since the check covers only the
 * block's own part of it; the caller writes its neighbours' rebuilt bytes only where
 * their own checks pass (a second silently bad page in the stripe makes them wrong).
 *
 * Limits: one bad page per stripe. A block spanning several stripes with a silent
 * (checksum-only) bad page in two or more of them is rebuilt by trying every choice of
 * one page per stripe while there are at most REBUILD_COMBINATIONS_MAX choices (a large
 * value's block across many stripes is not); unreadable pages in different stripes
 * are, and so is a silent bad page beside unreadable ones in other stripes.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import { rebuildPage } from './parity.js';
import type { StripeLayout } from './stripe-layout.js';

/** Reads physical bytes; throws on an I/O error or a short read. */
export type PhysicalReader = (buffer: Buffer, physicalOffset: number) => Promise<void>;

/** The K + 1 pages of one stripe (data pages in order, then parity); undefined where the read failed. */
export type StripePages = Array<Buffer | undefined>;

export async function readStripe(layout: StripeLayout, read: PhysicalReader, stripe: number, isFatal: (error: unknown) => boolean): Promise<StripePages> {
  const whole = Buffer.alloc(layout.stripeBytes);
  const pageBytes = layout.pageBytes;
  const split = (bytes: Buffer): StripePages => Array.from({ length: layout.stripePages }, (_, page) => bytes.subarray(page * pageBytes, (page + 1) * pageBytes));
  try {
    await read(whole, layout.stripeOffset(stripe));
    return split(whole);
  } catch (error) {
    if (isFatal(error)) throw error;
  }
  const pages: StripePages = [];
  for (let page = 0; page < layout.stripePages; page++) {
    const bytes = Buffer.alloc(pageBytes);
    try {
      await read(bytes, layout.stripeOffset(stripe) + page * pageBytes);
      pages.push(bytes);
    } catch (error) {
      if (isFatal(error)) throw error;
      pages.push(undefined);
    }
  }
  return pages;
}

export interface RebuildResult {
  /** The block's bytes that passed `check`, or undefined if no candidate did. */
  bytes: Buffer | undefined;
  /** Logical pages whose bytes were rebuilt from parity (to write back in place). */
  rebuiltPages: number[];
  /** The rebuilt bytes of each of rebuiltPages, whole pages (a packed block covers only part of its pages). */
  rebuiltPageBytes: Buffer[];
  /**
   * Each of rebuiltPages as read (undefined for a page that could not be read). The check
   * covers only the block's own bytes of a rebuilt page: the rest (neighbour blocks of a packed
   * run, format 4) is written back only where it is checked too (StripedRunFile#repair).
   */
  readPageBytes: Array<Buffer | undefined>;
  /** The stripes read, by stripe number (for naming other bad blocks). */
  stripes: Map<number, StripePages>;
}

export async function rebuildBlock(
  layout: StripeLayout,
  read: PhysicalReader,
  isFatal: (error: unknown) => boolean,
  block: { logicalOffset: number; lengthBytes: number },
  check: (bytes: Buffer) => boolean,
): Promise<RebuildResult> {
  const pageBytes = layout.pageBytes;
  const K = layout.stripeDataPages;
  // The whole pages holding the block: a packed block (run format 4) may start and end inside a page.
  const firstPage = Math.floor(block.logicalOffset / pageBytes);
  const pageCount = Math.ceil((block.logicalOffset + block.lengthBytes) / pageBytes) - firstPage;
  const startInSpan = block.logicalOffset - firstPage * pageBytes;
  assert(Number.isInteger(firstPage) && block.lengthBytes > 0 && pageCount > 0, 'a block is a non-empty byte range');
  const stripes = new Map<number, StripePages>();
  for (let page = firstPage; page < firstPage + pageCount; page++) {
    const stripe = layout.stripeOfLogicalPage(page);
    if (!stripes.has(stripe)) stripes.set(stripe, await readStripe(layout, read, stripe, isFatal));
  }
  const pageOf = (logicalPage: number) => (stripes.get(layout.stripeOfLogicalPage(logicalPage)) as StripePages)[logicalPage % K];
  const unreadable = (stripe: number) => (stripes.get(stripe) as StripePages).filter((page) => page === undefined).length;
  const bytes = Buffer.alloc(pageCount * pageBytes);
  const blockBytes = () => bytes.subarray(startInSpan, startInSpan + block.lengthBytes);
  const passes = () => check(blockBytes());
  const pageBytesOf = (logicalPage: number) => Buffer.from(bytes.subarray((logicalPage - firstPage) * pageBytes, (logicalPage - firstPage + 1) * pageBytes));
  const result = (rebuilt: number[]): RebuildResult => ({ bytes: Buffer.from(blockBytes()), rebuiltPages: rebuilt, rebuiltPageBytes: rebuilt.map(pageBytesOf), readPageBytes: rebuilt.map(() => undefined), stripes });
  const failed: RebuildResult = { bytes: undefined, rebuiltPages: [], rebuiltPageBytes: [], readPageBytes: [], stripes };
  const rebuiltPages: number[] = [];
  const scratch = Buffer.alloc(pageBytes);
  const rebuildInto = (logicalPage: number) => {
    rebuildPage(stripes.get(layout.stripeOfLogicalPage(logicalPage)) as StripePages, logicalPage % K, scratch);
    scratch.copy(bytes, (logicalPage - firstPage) * pageBytes);
  };
  for (let page = firstPage; page < firstPage + pageCount; page++) {
    const read = pageOf(page);
    if (read !== undefined) {
      read.copy(bytes, (page - firstPage) * pageBytes);
      continue;
    }
    if (unreadable(layout.stripeOfLogicalPage(page)) > 1) return failed;
    rebuildInto(page);
    rebuiltPages.push(page);
  }
  if (passes()) return result(rebuiltPages);
  // The unreadable pages stay rebuilt: a silently bad page may still lie in another stripe
  // of the block (one with no unreadable page), one bad page in each.
  for (let page = firstPage; page < firstPage + pageCount; page++) {
    if (unreadable(layout.stripeOfLogicalPage(page)) > 0) continue;
    const original = Buffer.from(bytes.subarray((page - firstPage) * pageBytes, (page - firstPage + 1) * pageBytes));
    rebuildInto(page);
    if (passes()) return { ...result([...rebuiltPages, page]), readPageBytes: [...rebuiltPages.map(() => undefined), original] };
    original.copy(bytes, (page - firstPage) * pageBytes);
  }
  // One silently bad page in each of two or more stripes of the block: try every choice of
  // at most one rebuilt page per stripe (with no unreadable page), while there are at most
  // REBUILD_COMBINATIONS_MAX choices (a packed block across two stripes: 4; a 9-page block
  // across two: at most 25). A check passes for the right choice only.
  const open = [...stripes.keys()].filter((stripe) => unreadable(stripe) === 0).map((stripe) => {
    const pages: number[] = [];
    for (let page = firstPage; page < firstPage + pageCount; page++) if (layout.stripeOfLogicalPage(page) === stripe) pages.push(page);
    return pages;
  });
  const combinations = open.reduce((product, pages) => product * (pages.length + 1), 1);
  if (open.length < 2 || combinations > REBUILD_COMBINATIONS_MAX) return failed;
  const chosen: number[] = [];
  const originals = new Map<number, Buffer>();
  const search = (stripeIndex: number): boolean => {
    if (stripeIndex === open.length) return chosen.length >= 2 && passes();
    if (search(stripeIndex + 1)) return true;
    for (const page of open[stripeIndex]!) {
      const at = (page - firstPage) * pageBytes;
      const original = Buffer.from(bytes.subarray(at, at + pageBytes));
      rebuildInto(page);
      chosen.push(page);
      if (search(stripeIndex + 1)) {
        originals.set(page, original);
        return true;
      }
      chosen.pop();
      original.copy(bytes, at);
    }
    return false;
  };
  if (!search(0)) return failed;
  return { ...result([...rebuiltPages, ...chosen]), readPageBytes: [...rebuiltPages.map(() => undefined), ...chosen.map((page) => originals.get(page))] };
}

/** Most choices of rebuilt pages (one per stripe) tried for a block spanning stripes. */
export const REBUILD_COMBINATIONS_MAX = 256;
