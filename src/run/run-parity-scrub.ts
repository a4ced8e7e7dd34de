/**
 * The parity step of a run scrub (run-scrub.ts), one stripe at a time (docs/FORMAT.md,
 * "Stripes and parity", "Repair"): after the block steps, each stripe's parity page is
 * checked against the XOR of its data pages, computed only from stripe bytes every block
 * of the stripe passes its check in; with `repair` a block found bad here is rebuilt,
 * the stripe read again, and a stale parity page (or non-zero padding) rewritten.
 *
 * Apart from the block steps because it works on whole stripes as stored (data pages and
 * parity page read together, a block's bytes in other stripes read from the file), not
 * on blocks as their parents name them; it shares with them only the target, the findings
 * and the set of stripes they found unrecoverable.
 *
 * Invariant: a stripe with an unrecoverable block never has its parity rewritten (the
 * parity is what could still rebuild it).
 *
 * A data page that cannot be read (EIO) is taken as zeros: a block with bytes there then
 * fails its check and is rebuilt from parity (rewriting its pages, which a disk remaps);
 * a page no block needs (zero padding of the last stripe, bytes no block covers) must be
 * zeros, so with `repair` it is rewritten so, with the parity. Before 2026-12-04 the step
 * gave up at such a page and called the stripe unrecoverable, though nothing was lost.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { computeParity } from '../stripe/parity.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import type { BlockRef } from './run-file.js';
import { isPartitionedFormat, RUN_PAGE_BYTES } from './run-format.js';
import { KIND_NAMES, readPartition, REBUILT_NOT_REWRITTEN, type RunScrubFinding, type RunScrubStep, type RunScrubTarget } from './run-scrub-target.js';

const offsetsOf = (blocks: BlockRef[]) => blocks.map((block) => block.logicalOffset).join(', ');

export class RunParityScrubber {
  readonly #target: RunScrubTarget;
  /** Why the last #readStripe could not read the stripe's parity page (left zeros), if it could not. */
  #parityUnreadable: string | undefined;
  /** Data page positions the last #readStripe could not read (left zeros in its answer), and the first read error. */
  #dataUnreadable: number[] = [];
  #dataUnreadableError = '';
  /** The blocks the last #blocksFailingIn listed in its stripe (every block with bytes there). */
  #listed: BlockRef[] = [];
  /**
   * The last block that passed its check and has bytes in a later stripe, with the bytes it
   * passed with: the next stripe whose bytes of it are these needs no read of the rest of it
   * (#passesAsChecked). Without it a block spanning S stripes was read and hashed whole S
   * times: a 15 MiB value's block, about 240 times.
   */
  #spanning: { block: BlockRef; bytes: Buffer } | undefined;

  constructor(target: RunScrubTarget) {
    this.#target = target;
  }

  /**
   * A stripe whose blocks are all good must have parity = XOR of its data pages; scrub rewrites a
   * stale parity page. The parity is computed only from stripe bytes every block of the stripe
   * passes its check in (these very bytes, not the ones the block steps read): a page gone bad
   * since its block's step, or whose rebuilt bytes could not be written back, would otherwise be
   * XORed into the parity, and the one copy that could rebuild it would be lost. Such a block is
   * rebuilt (from the parity as it is) and the stripe read again; if it still fails as stored,
   * the parity is left as it is.
   */
  async scrub(stripe: number, repair: boolean, unrecoverableStripes: Set<number>): Promise<RunScrubStep> {
    const layout = this.#target.file.layout;
    const step: RunScrubStep = { bytes: RUN_PAGE_BYTES, findings: [] };
    if (unrecoverableStripes.has(stripe)) return step;
    const dataBytes = layout.stripeDataPages * RUN_PAGE_BYTES;
    const parityOffset = layout.stripeOffset(stripe) + dataBytes;
    const finding = (outcome: RunScrubFinding['outcome'], reason: string) => {
      step.findings.push({ kind: 'parity', logicalOffset: parityOffset, stripe, outcome, reason });
      return step;
    };
    let whole = await this.#readStripe(stripe);
    if (typeof whole === 'string') return finding(repair ? 'unrecoverable' : 'damaged', whole);
    let failing = await this.#blocksFailingIn(stripe, whole);
    if (typeof failing === 'string' && repair && (await this.#repairPartitionsOver(stripe, step))) failing = await this.#blocksFailingIn(stripe, whole);
    if (typeof failing === 'string') return finding(repair ? 'unrecoverable' : 'damaged', failing);
    if (failing.length > 0) {
      const file = this.#target.file;
      if (!repair) return finding('damaged', `block(s) at ${offsetsOf(failing)} fail their check as read: the stripe's parity is not checked`);
      for (const block of failing) {
        let repaired: { rewritten: boolean } | undefined;
        try {
          // This read's own repair (the run's counters also count what concurrent reads repair elsewhere in it).
          repaired = file.repairOf(await file.readBlock(block, true));
        } catch (error) {
          if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
          return finding('unrecoverable', `block at ${block.logicalOffset} fails its check and cannot be rebuilt (${(error as Error).message}): the parity page is left as it is`);
        }
        if (repaired !== undefined) {
          step.findings.push({
            kind: KIND_NAMES[block.kind], logicalOffset: block.logicalOffset, stripe, outcome: 'repaired',
            reason: repaired.rewritten ? 'found damaged when the stripe was checked; rebuilt from parity and rewritten' : REBUILT_NOT_REWRITTEN,
          });
        }
      }
      whole = await this.#readStripe(stripe);
      if (typeof whole === 'string') return finding('unrecoverable', whole);
      failing = await this.#blocksFailingIn(stripe, whole);
      if (typeof failing === 'string') return finding('unrecoverable', failing);
      if (failing.length > 0) {
        // A page still unreadable after its rebuilt bytes were written back (a sector the disk did not remap), or a rewrite that failed.
        const why = this.#dataUnreadable.length > 0
          ? `data page at physical offset ${layout.stripeOffset(stripe) + (this.#dataUnreadable[0] as number) * RUN_PAGE_BYTES} still unreadable after its rebuilt bytes were written back (${this.#dataUnreadableError})`
          : 'writing back their rebuilt pages failed';
        return finding('unrecoverable', `block(s) at ${offsetsOf(failing)} still fail their check as stored (${why}): the parity page is left as it is, which still rebuilds them`);
      }
    }
    // Padding pages of the last stripe must be zeros: put back zeros, and the parity over them.
    const rewrites: Array<{ physicalOffset: number; bytes: Uint8Array }> = [];
    // A data page still unreadable: every block of the stripe passes its check with it as zeros
    // (#readStripe left it so), and bytes no block covers must be zeros: write it back so.
    const unreadableData = this.#dataUnreadable.map((position) => layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES);
    for (const position of this.#dataUnreadable) {
      rewrites.push({ physicalOffset: layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES, bytes: whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES) });
    }
    const dataNote = unreadableData.length === 0 ? undefined : `data page(s) at physical offset ${unreadableData.join(', ')} unreadable (${this.#dataUnreadableError}), every block of the stripe checking out with zeros there`;
    const logicalPages = (this.#target.footer.filterOffset + this.#target.footer.filterLength) / RUN_PAGE_BYTES;
    for (let position = 0; position < layout.stripeDataPages; position++) {
      if (stripe * layout.stripeDataPages + position < logicalPages || this.#dataUnreadable.includes(position)) continue;
      const page = whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES);
      if (page.every((byte) => byte === 0)) continue;
      page.fill(0);
      rewrites.push({ physicalOffset: layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES, bytes: page });
    }
    // So must the bytes below that no block covers (the rest of a packed run's last data page,
    // docs/FORMAT.md): a damaged one was folded into the rewritten parity, which alone could have
    // rebuilt its page as written (a hard-linked backup of the run was then beyond parity).
    for (const position of this.#zeroUncovered(stripe, whole, logicalPages)) {
      if (this.#dataUnreadable.includes(position)) continue;
      rewrites.push({ physicalOffset: layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES, bytes: whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES) });
    }
    const expected = Buffer.alloc(RUN_PAGE_BYTES);
    computeParity(whole.subarray(0, dataBytes), RUN_PAGE_BYTES, expected);
    const unreadable = this.#parityUnreadable;
    if (unreadable === undefined && rewrites.length === 0 && expected.equals(whole.subarray(dataBytes))) return step;
    const notes = [dataNote, unreadable].filter((note) => note !== undefined);
    if (!repair) return finding('damaged', notes.length > 0 ? notes.join('; ') : 'parity page differs from the XOR of the stripe, or padding is not zeros');
    const parityRewritten = unreadable !== undefined || !expected.equals(whole.subarray(dataBytes));
    if (parityRewritten) rewrites.push({ physicalOffset: parityOffset, bytes: expected });
    const rewritten = await this.#target.file.rewritePages(rewrites);
    if (!rewritten) return finding('unrecoverable', `${dataNote === undefined ? '' : `${dataNote}; `}parity page or padding differs and could not be rewritten`);
    this.#target.file.counters.repairedParityPages++;
    this.#target.file.onRepair?.({ runId: this.#target.runId, file: this.#target.path, kind: 'parity', logicalOffset: parityOffset, stripes: [stripe], pages: [stripe * (layout.stripeDataPages + 1) + layout.stripeDataPages], rewritten });
    if (dataNote !== undefined) return finding('repaired', `${notes.join('; ')}: rewritten as zeros${parityRewritten ? ', and the parity page rebuilt from the stripe and rewritten' : ' (the parity page agrees)'}`);
    return finding('repaired', `${unreadable === undefined ? '' : `${unreadable}; `}parity page rebuilt from the stripe and rewritten`);
  }

  /**
   * Reads (repairing) the index partitions whose data blocks lie in `stripe`, when one of them
   * failed its check since its own step; true if each now reads (findings for those rebuilt).
   */
  async #repairPartitionsOver(stripe: number, step: RunScrubStep): Promise<boolean> {
    const file = this.#target.file;
    const dataBytes = file.layout.stripeDataPages * RUN_PAGE_BYTES;
    const metadata = this.#target.metadataBlocks();
    for (let number = 0; number < this.#target.partitionCount; number++) {
      const span = this.#target.partitionDataSpan(number);
      if (span.end <= stripe * dataBytes || span.start >= (stripe + 1) * dataBytes) continue;
      const repairedBefore = file.counters.repairedBlocks;
      const rewriteFailuresBefore = file.counters.rewriteFailures;
      if ((await readPartition(this.#target, number, true)) instanceof Error) return false;
      if (file.counters.repairedBlocks === repairedBefore) continue;
      // The partition's block, for the finding (format 3 lists the top-level index, then the index partitions).
      const block = isPartitionedFormat(this.#target.footer.formatVersion) ? metadata[1 + number] : metadata[0];
      step.findings.push({
        kind: 'index', logicalOffset: block?.logicalOffset ?? -1, stripe: block === undefined ? -1 : file.layout.stripeOfLogicalPage(Math.floor(block.logicalOffset / RUN_PAGE_BYTES)), outcome: 'repaired',
        reason: file.counters.rewriteFailures === rewriteFailuresBefore ? 'found damaged when a stripe of its data blocks was checked; rebuilt from parity and rewritten' : REBUILT_NOT_REWRITTEN,
      });
    }
    return true;
  }

  /** Zeroes the non-zero bytes of `stripe`'s logical pages in `whole` that no listed block covers; the data page positions changed. */
  #zeroUncovered(stripe: number, whole: Buffer, logicalPages: number): number[] {
    const dataBytes = this.#target.file.layout.stripeDataPages * RUN_PAGE_BYTES;
    const stripeStart = stripe * dataBytes;
    const end = Math.min(dataBytes, logicalPages * RUN_PAGE_BYTES - stripeStart);
    const spans = this.#listed.map((block) => [block.logicalOffset - stripeStart, block.logicalOffset + block.lengthBytes - stripeStart] as const).sort((left, right) => left[0] - right[0]);
    const changed = new Set<number>();
    const clear = (from: number, to: number) => {
      for (let at = Math.max(0, from); at < Math.min(to, end); at++) {
        if (whole[at] === 0) continue;
        whole[at] = 0;
        changed.add(Math.floor(at / RUN_PAGE_BYTES));
      }
    };
    let covered = 0;
    for (const [from, to] of spans) {
      clear(covered, from);
      covered = Math.max(covered, to);
    }
    clear(covered, end);
    return [...changed];
  }

  /** The stripe (data pages and parity) as stored, or why it cannot be checked (a data page that cannot be read). */
  async #readStripe(stripe: number): Promise<Buffer | string> {
    const layout = this.#target.file.layout;
    const whole = Buffer.alloc(layout.stripeBytes);
    this.#parityUnreadable = undefined;
    this.#dataUnreadable = [];
    try {
      await this.#target.file.readPhysical(whole, layout.stripeOffset(stripe));
      return whole;
    } catch (error) {
      if (!isRepairableReadError(error)) throw error;
    }
    // Page by page: an unreadable parity page is left zeros and named (#parityUnreadable), rebuilt by the caller with repair.
    // An unreadable data page is left zeros and listed (#dataUnreadable, see the header): a block
    // with bytes there fails its check with them, and one that cannot be rebuilt is a finding.
    // More than one unreadable page: the stripe cannot be checked, which is a finding, not a failed scrub.
    whole.fill(0);
    let firstUnreadable: string | undefined;
    for (let position = 0; position < layout.stripeDataPages; position++) {
      const pageOffset = layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES;
      try {
        await this.#target.file.readPhysical(whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES), pageOffset);
      } catch (pageError) {
        if (!isRepairableReadError(pageError)) throw pageError;
        if (firstUnreadable !== undefined) return `data pages at physical offset ${firstUnreadable} and ${pageOffset} unreadable: the stripe's parity is not checked`;
        firstUnreadable = String(pageOffset);
        this.#dataUnreadable.push(position);
        this.#dataUnreadableError = (pageError as Error).message;
      }
    }
    const parity = whole.subarray(layout.stripeDataPages * RUN_PAGE_BYTES);
    await this.#target.file.readPhysical(parity, layout.stripeOffset(stripe) + layout.stripeDataPages * RUN_PAGE_BYTES).catch((error: unknown) => {
      if (!isRepairableReadError(error)) throw error;
      parity.fill(0);
      this.#parityUnreadable = `parity page unreadable (${(error as Error).message})`;
    });
    return whole;
  }

  /**
   * The blocks with bytes in `stripe` that fail their check with the stripe's data pages as in
   * `whole` (a block's bytes in other stripes read from the file), or why they cannot be listed.
   */
  async #blocksFailingIn(stripe: number, whole: Buffer): Promise<BlockRef[] | string> {
    const file = this.#target.file;
    const dataBytes = file.layout.stripeDataPages * RUN_PAGE_BYTES;
    const stripeStart = stripe * dataBytes;
    let blocks: BlockRef[];
    try {
      blocks = await this.#target.blocksInStripe(stripe);
      this.#listed = blocks;
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      return `the blocks of the stripe cannot be listed (${(error as Error).message}): its parity is not checked`;
    }
    const failing: BlockRef[] = [];
    for (const block of blocks) {
      const end = block.logicalOffset + block.lengthBytes;
      const from = Math.max(block.logicalOffset, stripeStart);
      const to = Math.min(end, stripeStart + dataBytes);
      if (this.#passesAsChecked(block, whole.subarray(from - stripeStart, to - stripeStart), from)) continue;
      const bytes = Buffer.allocUnsafe(block.lengthBytes);
      whole.copy(bytes, from - block.logicalOffset, from - stripeStart, to - stripeStart);
      try {
        if (block.logicalOffset < from) (await file.readLogical(block.logicalOffset, from - block.logicalOffset)).copy(bytes, 0);
        if (to < end) (await file.readLogical(to, end - to)).copy(bytes, to - block.logicalOffset);
      } catch (error) {
        if (!isRepairableReadError(error)) throw error;
        failing.push(block);
        continue;
      }
      if (!file.passes(block, bytes)) failing.push(block);
      else if (to < end) this.#spanning = { block, bytes };
    }
    return failing;
  }

  /**
   * True when `block` passed its check with bytes whose part at logical offset `from` is
   * `stripeBytes`: then it passes with the stripe's bytes as read now, the rest being bytes it
   * was read with before (a part gone bad since is its own stripe's finding, found when that
   * stripe is read). A block that goes on past this stripe stays remembered.
   */
  #passesAsChecked(block: BlockRef, stripeBytes: Buffer, from: number): boolean {
    const spanning = this.#spanning;
    if (spanning === undefined) return false;
    const same = spanning.block.logicalOffset === block.logicalOffset && spanning.block.lengthBytes === block.lengthBytes && spanning.block.checksum === block.checksum;
    if (!same) {
      if (spanning.block.logicalOffset + spanning.block.lengthBytes <= from) this.#spanning = undefined;
      return false;
    }
    const at = from - block.logicalOffset;
    return stripeBytes.equals(spanning.bytes.subarray(at, at + stripeBytes.length));
  }
}
