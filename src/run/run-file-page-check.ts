/**
 * What a repair writes back of a page it rebuilt from parity (StripedRunFile#repair, run-file.ts):
 * only bytes a check vouches for (docs/FORMAT.md, "Repair"). A page shared by blocks (format 4)
 * gets the rebuilt bytes of a neighbour only where the neighbour's check passes with them; a
 * page that could not be read is read once more (an EIO may be transient), and when it still
 * cannot be, the rebuilt page is written only if every neighbour on it passes and its bytes no
 * block covers are zeros. A second, silently bad page in the stripe makes rebuilt bytes outside
 * the checked block wrong; written, they would make the stripe agree with its parity, and that
 * damage could no longer be rebuilt.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import { assert } from '../util/assert.js';
import type { BlockRef, StripedRunFile } from './run-file.js';

/**
 * What to write back for logical page `page`, rebuilt from parity for `block` (undefined:
 * nothing). A page that could not be read is read once more (an EIO may be transient: its
 * sector may hold the right bytes); still unreadable, the whole rebuilt page, unless a
 * neighbour block on it fails its check with the rebuilt bytes or its bytes no block covers
 * are not zeros: then nothing (a second,
 * silently bad page in the stripe made them wrong; written, they would turn the page's
 * neighbours and that bad page's blocks unrecoverable once the EIO clears, the stripe
 * agreeing with its parity). Else the page as read, with the rebuilt bytes of every block
 * that passes its check with them (`block` itself passed). A packed run (format 4) shares a
 * page between blocks; with a second silently bad page in the stripe the rebuilt bytes of a
 * neighbour are wrong, and writing them would ruin a block that reads fine.
 */
export async function checkedPageBytes(file: StripedRunFile, block: BlockRef, page: number, rebuilt: Buffer, asRead: Buffer | undefined): Promise<Buffer | undefined> {
  assert(rebuilt.length === file.layout.pageBytes && (asRead === undefined || asRead.length === rebuilt.length), 'whole pages');
  if (asRead === undefined) {
    const again = Buffer.alloc(file.layout.pageBytes);
    try {
      await file.readPhysical(again, file.layout.physicalPage(page) * file.layout.pageBytes);
      asRead = again;
    } catch (error) {
      if (!isRepairableReadError(error)) throw error;
      return (await neighboursPass(file, block, page, rebuilt)) ? rebuilt : undefined;
    }
  }
  const pageStart = page * file.layout.pageBytes;
  const pageEnd = pageStart + file.layout.pageBytes;
  const written = Buffer.from(asRead);
  // The part of `other` inside this page, as page offsets (empty: from >= to).
  const overlap = (other: BlockRef) => ({
    from: Math.max(other.logicalOffset, pageStart) - pageStart,
    to: Math.min(other.logicalOffset + other.lengthBytes, pageEnd) - pageStart,
  });
  const take = (other: BlockRef) => {
    const { from, to } = overlap(other);
    if (from < to) rebuilt.copy(written, from, from, to);
  };
  take(block);
  if (written.equals(rebuilt)) return written;
  let neighbours: BlockRef[];
  try {
    neighbours = await file.blocksInStripe(file.layout.stripeOfLogicalPage(page));
  } catch (error) {
    if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
    return written;
  }
  for (const other of neighbours) {
    const { from, to } = overlap(other);
    if (other.logicalOffset === block.logicalOffset || from >= to) continue;
    const bytes = await file.readLogical(other.logicalOffset, other.lengthBytes).catch((error: unknown) => {
      if (isRepairableReadError(error)) return undefined;
      throw error;
    });
    if (bytes === undefined) continue;
    rebuilt.copy(bytes, pageStart + from - other.logicalOffset, from, to);
    if (file.passes(other, bytes)) take(other);
  }
  return written;
}

/**
 * False if a block other than `block` with bytes on the unreadable logical page `page`
 * fails its check with `rebuilt` there (its other bytes as read; one it cannot read is
 * not counted against), or if bytes of the page no listed block covers (padding, which is
 * zeros) are not zeros in `rebuilt`. Neighbours not known (blocksInStripe failed): true.
 */
async function neighboursPass(file: StripedRunFile, block: BlockRef, page: number, rebuilt: Buffer): Promise<boolean> {
  const pageStart = page * file.layout.pageBytes;
  const pageEnd = pageStart + file.layout.pageBytes;
  let neighbours: BlockRef[];
  try {
    neighbours = await file.blocksInStripe(file.layout.stripeOfLogicalPage(page));
  } catch (error) {
    if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
    return true;
  }
  const covered = Buffer.alloc(file.layout.pageBytes);
  for (const other of neighbours) {
    const from = Math.max(other.logicalOffset, pageStart);
    const to = Math.min(other.logicalOffset + other.lengthBytes, pageEnd);
    if (from < to) covered.fill(1, from - pageStart, to - pageStart);
  }
  for (let at = 0; at < covered.length; at++) if (covered[at] === 0 && rebuilt[at] !== 0) return false;
  for (const other of neighbours) {
    const from = Math.max(other.logicalOffset, pageStart);
    const to = Math.min(other.logicalOffset + other.lengthBytes, pageEnd);
    if (other.logicalOffset === block.logicalOffset || from >= to) continue;
    const bytes = Buffer.alloc(other.lengthBytes);
    try {
      if (other.logicalOffset < from) bytes.set(await file.readLogical(other.logicalOffset, from - other.logicalOffset), 0);
      if (to < other.logicalOffset + other.lengthBytes) bytes.set(await file.readLogical(to, other.logicalOffset + other.lengthBytes - to), to - other.logicalOffset);
    } catch (error) {
      if (isRepairableReadError(error)) continue;
      throw error;
    }
    rebuilt.copy(bytes, from - other.logicalOffset, from - pageStart, to - pageStart);
    if (!file.passes(other, bytes)) return false;
  }
  return true;
}
