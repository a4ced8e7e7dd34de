/**
 * What a scrub of one run file (run-scrub.ts, run-parity-scrub.ts) works on and what it
 * reports: RunScrubTarget, the open run reader's view of itself that RunReader
 * (src/run/run-reader.ts) and verify (src/run/run-verify.ts) hand over, and the findings
 * of each step, with the wording the block and parity steps share.
 */
import { CorruptionError } from '../errors.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import type { DecodedBlock } from './data-block.js';
import type { RunDescriptor } from './run-descriptor.js';
import type { BlockRef, StripedRunFile } from './run-file.js';
import type { BlockKindValue, RunFooter } from './run-format.js';
import type { RunIndex } from './run-index.js';

/** One finding of verify() or a scrub step. */
export interface RunScrubFinding {
  /** The block's kind: 'index' covers the flat index, index partitions and the top-level index; 'footer' the run's last page. */
  kind: 'data' | 'index' | 'filter' | 'footer' | 'parity';
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
export const REBUILT_NOT_REWRITTEN = 'rebuilt from parity (reads answer exact) but writing it back failed: the page stays bad on disk, and the stripe\'s parity is kept to rebuild it';

export const KIND_NAMES: Record<BlockKindValue, RunScrubFinding['kind']> = { 1: 'data', 2: 'index', 3: 'filter', 4: 'footer', 5: 'index' };

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

/** Partition `number`'s index, or why it cannot be read (its block fails its check, or passes it and does not decode). */
export async function readPartition(target: RunScrubTarget, number: number, repair: boolean): Promise<RunIndex | Error> {
  try {
    return await target.partition(number, repair);
  } catch (error) {
    if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
    return error as Error;
  }
}
