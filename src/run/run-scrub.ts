/**
 * Scrub and verify of one run file (docs/FORMAT.md, "Stripes and parity", "Repair"),
 * split out of RunReader (src/run/run-reader.ts), which delegates verify() and
 * scrub() here with a RunScrubTarget view of itself.
 *
 * scrub() checks every block (data, index, filter; format 3: the top-level index and
 * every index and filter partition, before the data blocks) against its parent's checksum
 * (decompressing a compressed data block too), then every stripe's parity page
 * against the XOR of its data pages (that step is run-parity-scrub.ts; the target and
 * the findings are run-scrub-target.ts); with `repair` it rebuilds bad blocks from
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
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import { decompressPayload } from './block-compression.js';
import type { BlockRef } from './run-file.js';
import { BlockKind, footerFields, isPartitionedFormat, parseChecksumHex, RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES, RunCompression } from './run-format.js';
import { RunIndex } from './run-index.js';
import { RunParityScrubber } from './run-parity-scrub.js';
import { KIND_NAMES, readPartition, REBUILT_NOT_REWRITTEN, type RunScrubFinding, type RunScrubStep, type RunScrubTarget } from './run-scrub-target.js';

export type { RunScrubFinding, RunScrubStep, RunScrubTarget } from './run-scrub-target.js';

/** Why a block that passes its checksum but does not decode is beyond repair. */
export const UNDECODABLE_NOTE = 'the block passes its checksum but does not decode: parity rebuilds only bytes that fail it';

export class RunScrubber {
  readonly #target: RunScrubTarget;
  readonly #parity: RunParityScrubber;

  constructor(target: RunScrubTarget) {
    this.#target = target;
    this.#parity = new RunParityScrubber(target);
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
      const read = await readPartition(this.#target, number, repair);
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
      yield await this.#parity.scrub(stripe, repair, unrecoverableStripes);
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
      const again = await readPartition(this.#target, number, repair);
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
    try {
      const checked = await this.#target.file.readBlock(block, repair);
      if (block.kind === BlockKind.data && this.#target.footer.compression !== RunCompression.none) {
        decompressPayload(this.#target.footer.compression, checked.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + checked.payloadBytes), this.#target.path, block.logicalOffset);
      }
      // This read's own repair (the run's counters also count what concurrent reads repair elsewhere in it).
      const repaired = this.#target.file.repairOf(checked);
      if (repaired !== undefined) return finding('repaired', repaired.rewritten ? 'rebuilt from parity and rewritten' : REBUILT_NOT_REWRITTEN);
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
}
