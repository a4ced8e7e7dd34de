/**
 * Scrub and verify of one run file (docs/FORMAT.md, "Stripes and parity", "Repair"),
 * split out of RunReader (src/run/run-reader.ts), which delegates verify() and
 * scrub() here with a RunScrubTarget view of itself.
 *
 * scrub() checks every block (data, index, filter; format 3: the top-level index and
 * every index and filter partition, before the data blocks) against its parent's checksum
 * (decompressing a compressed data block too), then every stripe's parity page
 * against the XOR of its data pages; with `repair` it rebuilds bad blocks from
 * parity and rewrites stale parity pages. An index partition that passes its check
 * but does not decode is a finding too (unrecoverable: parity rebuilds only bytes that
 * fail their check), once per pass. verify (src/run/run-verify.ts) is scrub without
 * repair plus the entry-level checks.
 *
 * Invariants: a stripe with an unrecoverable block never has its parity rewritten
 * (the parity is what could still rebuild it); verify never writes; every finding
 * names the block's logical offset and its stripe.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { computeParity } from '../stripe/parity.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import { decompressPayload } from './block-compression.js';
import type { DecodedBlock } from './data-block.js';
import type { RunDescriptor } from './run-descriptor.js';
import type { BlockRef, StripedRunFile } from './run-file.js';
import { BlockKind, footerFields, isPartitionedFormat, parseChecksumHex, RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES, RunCompression, type BlockKindValue, type RunFooter } from './run-format.js';
import { RunIndex } from './run-index.js';

/** One finding of verify() or a scrub step. */
export interface RunScrubFinding {
  kind: 'data' | 'index' | 'filter' | 'parity';
  logicalOffset: number;
  stripe: number;
  outcome: 'repaired' | 'unrecoverable' | 'damaged';
  reason: string;
}

/** What one scrub step read and found. */
export interface RunScrubStep {
  bytes: number;
  findings: RunScrubFinding[];
}

/** A block scrub rebuilt from parity whose rebuilt pages could not be written back. */
const REBUILT_NOT_REWRITTEN = 'rebuilt from parity (reads answer exact) but writing it back failed: the page stays bad on disk, and the stripe\'s parity is kept to rebuild it';

/** Why a block that passes its checksum but does not decode is beyond repair. */
export const UNDECODABLE_NOTE = 'the block passes its checksum but does not decode: parity rebuilds only bytes that fail it';

const offsetsOf = (blocks: BlockRef[]) => blocks.map((block) => block.logicalOffset).join(', ');

const KIND_NAMES: Record<BlockKindValue, RunScrubFinding['kind']> = { 1: 'data', 2: 'index', 3: 'filter', 4: 'index', 5: 'index' };

/** What the scrubber needs of an open run reader. */
export interface RunScrubTarget {
  readonly path: string;
  readonly runId: number;
  readonly descriptor: RunDescriptor;
  readonly footer: RunFooter;
  readonly file: StripedRunFile;
  readonly partitionCount: number;
  /** Logical byte span [start, end) of partition `number`'s data blocks. */
  partitionDataSpan(number: number): { start: number; end: number };
  readonly stripeCount: number;
  /** Every block that is not a data block (format 2: index and filter; format 3: top-level index and partitions). */
  metadataBlocks(): BlockRef[];
  /** Every block with bytes in `stripe` (format 3: through the index partitions; throws when one of them cannot be read). */
  blocksInStripe(stripe: number): Promise<BlockRef[]>;
  /** Reads, checks and decodes partition `number`'s index (no cache), repairing only with `repair`. */
  partition(number: number, repair: boolean): Promise<RunIndex>;
  dataBlockRef(index: RunIndex, local: number): BlockRef;
  /** Reads, checks and decodes data block `local` of `index` (no cache), repairing only with `repair`. */
  readDecoded(index: RunIndex, local: number, repair: boolean): Promise<DecodedBlock>;
  mayContain(key: string): boolean | Promise<boolean>;
}

export class RunScrubber {
  readonly #target: RunScrubTarget;
  /** Why the last #readStripe could not read the stripe's parity page (left zeros), if it could not. */
  #parityUnreadable: string | undefined;

  constructor(target: RunScrubTarget) {
    this.#target = target;
  }

  /**
   * Checks every block (data, index, filter), then every stripe's parity; with
   * `repair`, rebuilds bad blocks and rewrites stale parity pages. One step per
   * block or stripe, so a caller can pace it (src/stripe/scrub.ts).
   */
  async *scrub(repair: boolean): AsyncGenerator<RunScrubStep> {
    const unrecoverableStripes = new Set<number>();
    yield await this.#scrubFooter(repair);
    // Format 3 checks (and repairs) the partitions first: the data blocks are found through them.
    const metadataFirst = isPartitionedFormat(this.#target.footer.formatVersion);
    // Logical offsets of the metadata blocks this pass found bad and did not repair.
    const reportedBad = new Set<number>();
    if (metadataFirst) {
      for (const block of this.#target.metadataBlocks()) {
        const step = await this.#scrubBlock(block, repair, unrecoverableStripes);
        if (step.findings.some((finding) => finding.outcome !== 'repaired')) reportedBad.add(block.logicalOffset);
        yield step;
      }
    }
    for (let number = 0; number < this.#target.partitionCount; number++) {
      const read = await this.#readPartition(number, repair);
      // A read that failed once (EIO) and whose block now checks out is read again (#unreadablePartition).
      const index = read instanceof Error ? await this.#unreadablePartition(number, read, repair, reportedBad, unrecoverableStripes) : read;
      if (!(index instanceof RunIndex)) {
        // Reported once: by its block's step when it failed its check there, else here (it went
        // bad since, it passes its check but does not decode, or it cannot be read). Its data
        // blocks cannot be found, so nothing tells a damaged page of theirs from a stale parity
        // page: the parity of the stripes they span is left as it is (never rewritten from
        // unchecked data).
        if (index !== undefined) yield index;
        const span = this.#target.partitionDataSpan(number);
        const layout = this.#target.file.layout;
        for (let page = Math.floor(span.start / RUN_PAGE_BYTES); page < Math.ceil(span.end / RUN_PAGE_BYTES); page++) unrecoverableStripes.add(layout.stripeOfLogicalPage(page));
        continue;
      }
      for (let local = 0; local < index.blockCount; local++) yield await this.#scrubBlock(this.#target.dataBlockRef(index, local), repair, unrecoverableStripes);
    }
    if (!metadataFirst) for (const block of this.#target.metadataBlocks()) yield await this.#scrubBlock(block, repair, unrecoverableStripes);
    for (let stripe = 0; stripe < this.#target.stripeCount; stripe++) {
      yield await this.#scrubParity(stripe, repair, unrecoverableStripes);
    }
  }

  /**
   * The footer page as stored, against the manifest's checksum of it. It is in no stripe; the
   * reader decoded it at open and reads it no more, so without this step a footer gone bad
   * under a long-running store was found only by the next open, which then cannot open the
   * run. With `repair` a bad one is rebuilt from the reader's decoded copy, and written back
   * only if the rebuilt page's checksum is the manifest's (so it is the page as written).
   */
  async #scrubFooter(repair: boolean): Promise<RunScrubStep> {
    const file = this.#target.file;
    const footerOffset = this.#target.descriptor.fileBytes - RUN_PAGE_BYTES;
    const expected = parseChecksumHex(this.#target.descriptor.footerChecksum);
    const ref: BlockRef = { logicalOffset: footerOffset, lengthBytes: RUN_PAGE_BYTES, kind: BlockKind.footer, checksum: expected };
    const finding = (outcome: RunScrubFinding['outcome'], reason: string): RunScrubStep => ({
      bytes: RUN_PAGE_BYTES,
      findings: [{ kind: KIND_NAMES[BlockKind.footer], logicalOffset: footerOffset, stripe: -1, outcome, reason }],
    });
    const page = Buffer.alloc(RUN_PAGE_BYTES);
    let problem: string;
    try {
      await file.readPhysical(page, footerOffset);
      if (page.readBigUInt64LE(0) === expected && file.checksumOf(ref, page) === expected) return { bytes: RUN_PAGE_BYTES, findings: [] };
      problem = 'footer checksum mismatch';
    } catch (error) {
      if (!isRepairableReadError(error)) throw error;
      problem = `footer unreadable (${(error as Error).message})`;
    }
    if (!repair) return finding('damaged', `${problem} (in no stripe; rebuilt from the open reader's copy by a scrub)`);
    const rebuilt = footerFields(this.#target.footer);
    if (file.checksumOf(ref, rebuilt) !== expected) return finding('unrecoverable', `${problem}, and the open reader's copy does not give the manifest's checksum`);
    rebuilt.writeBigUInt64LE(expected, 0);
    if (!(await file.rewritePages([{ physicalOffset: footerOffset, bytes: rebuilt }]))) return finding('unrecoverable', `${problem}; rebuilt from the open reader's copy, but writing it back failed`);
    file.counters.repairedBlocks++;
    file.onRepair?.({ runId: this.#target.runId, file: this.#target.path, kind: BlockKind.footer, logicalOffset: footerOffset, stripes: [], pages: [], rewritten: true });
    return finding('repaired', `${problem}; rebuilt from the open reader's copy (its checksum is the manifest's) and rewritten`);
  }

  /** Partition `number`'s index, or why it cannot be read (its block fails its check, or passes it and does not decode). */
  async #readPartition(number: number, repair: boolean): Promise<RunIndex | Error> {
    try {
      return await this.#target.partition(number, repair);
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      return error as Error;
    }
  }

  /**
   * What partition `number`'s failed read (`error`) adds to the pass: nothing when its block's
   * step already reported it bad; its block checked again (a finding when the block fails its
   * check as read now: it went bad since its step); else, for a CorruptionError, a finding that
   * the block passes its check but does not decode (the block steps compare checksums only),
   * which no repair fixes. An I/O error of a block that now reads and checks out was a failure
   * of one read: the partition is read again, and its index returned (its data blocks are then
   * checked as usual); a second failure is a finding. Before 2026-12-02 that case added nothing
   * and the pass skipped the partition's data blocks and their stripes' parity in silence.
   */
  async #unreadablePartition(
    number: number, error: Error, repair: boolean, reportedBad: ReadonlySet<number>, unrecoverableStripes: Set<number>,
  ): Promise<RunIndex | RunScrubStep | undefined> {
    // A flat index (format 2) is resident and never read here; format 3 lists the top-level index, then the index partitions.
    const block = isPartitionedFormat(this.#target.footer.formatVersion) ? this.#target.metadataBlocks()[1 + number] : undefined;
    if (block === undefined || reportedBad.has(block.logicalOffset)) return undefined;
    const check = await this.#scrubBlock(block, repair, unrecoverableStripes);
    if (check.findings.length > 0) return check;
    let failure = error;
    if (!(failure instanceof CorruptionError)) {
      const again = await this.#readPartition(number, repair);
      if (!(again instanceof Error)) return again;
      failure = again;
    }
    const stripe = this.#target.file.layout.stripeOfLogicalPage(Math.floor(block.logicalOffset / RUN_PAGE_BYTES));
    const finding = (outcome: RunScrubFinding['outcome'], reason: string): RunScrubStep => ({ bytes: check.bytes, findings: [{ kind: 'index', logicalOffset: block.logicalOffset, stripe, outcome, reason }] });
    if (!(failure instanceof CorruptionError)) return finding(repair ? 'unrecoverable' : 'damaged', `partition unreadable twice, its block checked between (${failure.message})`);
    const prefix = `corruption in ${failure.file} at offset ${failure.offset}: `;
    const detail = failure.message.startsWith(prefix) ? failure.message.slice(prefix.length) : failure.message;
    return finding('unrecoverable', `${detail} (${UNDECODABLE_NOTE})`);
  }

  async #scrubBlock(block: BlockRef, repair: boolean, unrecoverableStripes: Set<number>): Promise<RunScrubStep> {
    const layout = this.#target.file.layout;
    const stripe = layout.stripeOfLogicalPage(Math.floor(block.logicalOffset / RUN_PAGE_BYTES));
    const finding = (outcome: RunScrubFinding['outcome'], reason: string): RunScrubStep => ({
      bytes: block.lengthBytes,
      findings: [{ kind: KIND_NAMES[block.kind], logicalOffset: block.logicalOffset, stripe, outcome, reason }],
    });
    const repairedBefore = this.#target.file.counters.repairedBlocks;
    const rewriteFailuresBefore = this.#target.file.counters.rewriteFailures;
    try {
      const checked = await this.#target.file.readBlock(block, repair);
      if (block.kind === BlockKind.data && this.#target.footer.compression !== RunCompression.none) {
        decompressPayload(this.#target.footer.compression, checked.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + checked.payloadBytes), this.#target.path, block.logicalOffset);
      }
      if (this.#target.file.counters.repairedBlocks > repairedBefore) {
        return finding('repaired', this.#target.file.counters.rewriteFailures === rewriteFailuresBefore ? 'rebuilt from parity and rewritten' : REBUILT_NOT_REWRITTEN);
      }
      return { bytes: block.lengthBytes, findings: [] };
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      // Every page the block touches (a packed block of format 4 may start and end inside pages).
      for (let page = Math.floor(block.logicalOffset / RUN_PAGE_BYTES); page < Math.ceil((block.logicalOffset + block.lengthBytes) / RUN_PAGE_BYTES); page++) {
        unrecoverableStripes.add(layout.stripeOfLogicalPage(page));
      }
      return finding(repair ? 'unrecoverable' : 'damaged', (error as Error).message);
    }
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
  async #scrubParity(stripe: number, repair: boolean, unrecoverableStripes: Set<number>): Promise<RunScrubStep> {
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
        const repairedBefore = file.counters.repairedBlocks;
        const rewriteFailuresBefore = file.counters.rewriteFailures;
        try {
          await file.readBlock(block, true);
        } catch (error) {
          if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
          return finding('unrecoverable', `block at ${block.logicalOffset} fails its check and cannot be rebuilt (${(error as Error).message}): the parity page is left as it is`);
        }
        if (file.counters.repairedBlocks > repairedBefore) {
          const rewritten = file.counters.rewriteFailures === rewriteFailuresBefore;
          step.findings.push({
            kind: KIND_NAMES[block.kind], logicalOffset: block.logicalOffset, stripe, outcome: 'repaired',
            reason: rewritten ? 'found damaged when the stripe was checked; rebuilt from parity and rewritten' : REBUILT_NOT_REWRITTEN,
          });
        }
      }
      whole = await this.#readStripe(stripe);
      if (typeof whole === 'string') return finding('unrecoverable', whole);
      failing = await this.#blocksFailingIn(stripe, whole);
      if (typeof failing === 'string') return finding('unrecoverable', failing);
      if (failing.length > 0) {
        return finding('unrecoverable', `block(s) at ${offsetsOf(failing)} still fail their check as stored (writing back their rebuilt pages failed): the parity page is left as it is, which still rebuilds them`);
      }
    }
    // Padding pages of the last stripe must be zeros: put back zeros, and the parity over them.
    const rewrites: Array<{ physicalOffset: number; bytes: Uint8Array }> = [];
    const logicalPages = (this.#target.footer.filterOffset + this.#target.footer.filterLength) / RUN_PAGE_BYTES;
    for (let position = 0; position < layout.stripeDataPages; position++) {
      if (stripe * layout.stripeDataPages + position < logicalPages) continue;
      const page = whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES);
      if (page.every((byte) => byte === 0)) continue;
      page.fill(0);
      rewrites.push({ physicalOffset: layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES, bytes: page });
    }
    const expected = Buffer.alloc(RUN_PAGE_BYTES);
    computeParity(whole.subarray(0, dataBytes), RUN_PAGE_BYTES, expected);
    const unreadable = this.#parityUnreadable;
    if (unreadable === undefined && rewrites.length === 0 && expected.equals(whole.subarray(dataBytes))) return step;
    if (!repair) return finding('damaged', unreadable ?? 'parity page differs from the XOR of the stripe, or padding is not zeros');
    if (unreadable !== undefined || !expected.equals(whole.subarray(dataBytes))) rewrites.push({ physicalOffset: parityOffset, bytes: expected });
    const rewritten = await this.#target.file.rewritePages(rewrites);
    if (!rewritten) return finding('unrecoverable', 'parity page differs and could not be rewritten');
    this.#target.file.counters.repairedParityPages++;
    this.#target.file.onRepair?.({ runId: this.#target.runId, file: this.#target.path, kind: 'parity', logicalOffset: parityOffset, stripes: [stripe], pages: [stripe * (layout.stripeDataPages + 1) + layout.stripeDataPages], rewritten });
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
      if ((await this.#readPartition(number, true)) instanceof Error) return false;
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

  /** The stripe (data pages and parity) as stored, or why it cannot be checked (a data page that cannot be read). */
  async #readStripe(stripe: number): Promise<Buffer | string> {
    const layout = this.#target.file.layout;
    const whole = Buffer.alloc(layout.stripeBytes);
    this.#parityUnreadable = undefined;
    try {
      await this.#target.file.readPhysical(whole, layout.stripeOffset(stripe));
      return whole;
    } catch (error) {
      if (!isRepairableReadError(error)) throw error;
    }
    // Page by page: an unreadable parity page is left zeros and named (#parityUnreadable), rebuilt by the caller with repair. A data page can fail too (a
    // bad sector a rewrite did not fix, a block of a lost index partition that was never
    // checked): then the stripe cannot be checked, which is a finding, not a failed scrub.
    whole.fill(0);
    for (let position = 0; position < layout.stripeDataPages; position++) {
      const pageOffset = layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES;
      try {
        await this.#target.file.readPhysical(whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES), pageOffset);
      } catch (pageError) {
        if (!isRepairableReadError(pageError)) throw pageError;
        return `data page at physical offset ${pageOffset} unreadable: the stripe's parity is not checked`;
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
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      return `the blocks of the stripe cannot be listed (${(error as Error).message}): its parity is not checked`;
    }
    const failing: BlockRef[] = [];
    for (const block of blocks) {
      const end = block.logicalOffset + block.lengthBytes;
      const from = Math.max(block.logicalOffset, stripeStart);
      const to = Math.min(end, stripeStart + dataBytes);
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
    }
    return failing;
  }
}
