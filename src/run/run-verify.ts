/**
 * verify of one run file: scrub without repair (src/run/run-scrub.ts) plus the
 * entry-level checks scrub does not make (order across blocks, the filter answers every
 * key, the footer's counts). RunReader#verify delegates here. Never writes.
 */
import { CorruptionError } from '../errors.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import type { DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { isPartitionedFormat, RUN_PAGE_BYTES } from './run-format.js';
import type { RunIndex } from './run-index.js';
import { RunScrubber, type RunScrubTarget } from './run-scrub.js';

/** What verify found: blocks and bytes checked, and every problem with its logical offset. */
export interface RunVerifyResult {
  blocks: number;
  bytes: number;
  problems: Array<{ offset: number; reason: string }>;
}

/** Reads and checks every block and every stripe's parity, without repairing; reports problems instead of throwing on the first. */
export async function verifyRun(target: RunScrubTarget): Promise<RunVerifyResult> {
  const problems: RunVerifyResult['problems'] = [];
  for await (const step of new RunScrubber(target).scrub(false)) {
    for (const finding of step.findings) problems.push({ offset: finding.logicalOffset, reason: `${finding.kind} (stripe ${finding.stripe}): ${finding.reason}` });
  }
  // Only over blocks that all passed their checks: the counts read through the reader (its filter partitions), which must then repair nothing.
  if (problems.length === 0) await checkCounts(target, problems);
  return { blocks: target.footer.dataBlockCount + target.metadataBlocks().length + 1 + target.stripeCount, bytes: target.descriptor.fileBytes, problems };
}

/**
 * The entry-level checks verify adds: order across blocks, the filter, the footer's
 * counts. Runs only once every block passed its checks, so a CorruptionError here (a
 * checked block that does not decode as the footer's format says: a filter kind the
 * format does not allow, a malformed partition or block) was not reported by them: it
 * is a problem of its own, as the read that meets it refuses it. A read that fails with
 * an I/O error (EIO) here is a problem too, at the block it was reading: the block checks
 * read the block a moment ago, but a read that fails now is a fault of the medium, and the
 * counts cannot be compared without it (the check stops there, as for a CorruptionError).
 */
async function checkCounts(target: RunScrubTarget, problems: RunVerifyResult['problems']): Promise<void> {
  let entryCount = 0;
  let keyCount = 0;
  let previous: RunEntry | undefined;
  /** A CorruptionError at its own offset; an I/O error at `offset`, the block being read (`what`); anything else is thrown. */
  const failed = (error: unknown, offset: number, what: string): void => {
    if (error instanceof CorruptionError) {
      const prefix = `corruption in ${error.file} at offset ${error.offset}: `;
      problems.push({ offset: error.offset, reason: error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message });
    } else if (isRepairableReadError(error)) {
      problems.push({ offset, reason: `${what} unreadable in the entry check (${(error as Error).message})` });
    } else {
      throw error;
    }
  };
  // Format 3 and later list the top-level index, then the index partitions; a flat index (format 2) is resident.
  const partitioned = isPartitionedFormat(target.footer.formatVersion);
  for (let number = 0; number < target.partitionCount; number++) {
    let index: RunIndex;
    try {
      index = await target.partition(number, false);
    } catch (error) {
      // A CorruptionError is a partition whose checksum passed but that does not decode (the
      // scrub pass reports that too, so this is a partition that went bad since it read it).
      failed(error, (partitioned ? target.metadataBlocks()[1 + number]?.logicalOffset : undefined) ?? target.footer.indexOffset, 'index partition');
      return;
    }
    for (let local = 0; local < index.blockCount; local++) {
      let block: DecodedBlock;
      try {
        block = await target.readDecoded(index, local, false);
      } catch (error) {
        failed(error, index.offset(local), 'data block');
        return;
      }
      try {
        for (let position = 0; position < block.count; position++) {
          const entry = block.entry(position);
          if (previous !== undefined && (entry.key < previous.key || (entry.key === previous.key && entry.version >= previous.version))) {
            problems.push({ offset: index.offset(local), reason: 'entries out of order across blocks' });
          }
          if (previous?.key !== entry.key) {
            keyCount++;
            if (!(await target.mayContain(entry.key))) problems.push({ offset: target.footer.filterOffset, reason: `filter misses key ${JSON.stringify(entry.key)}` });
          }
          previous = entry;
        }
      } catch (error) {
        // Decoding an entry (a CorruptionError at its own offset) or reading the filter.
        failed(error, target.footer.filterOffset, 'filter');
        return;
      }
      entryCount += block.count;
    }
  }
  if (entryCount !== target.footer.entryCount || keyCount !== target.footer.keyCount) {
    problems.push({ offset: target.descriptor.fileBytes - RUN_PAGE_BYTES, reason: `footer counts ${target.footer.entryCount}/${target.footer.keyCount}, blocks hold ${entryCount}/${keyCount}` });
  }
}
