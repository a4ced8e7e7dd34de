/**
 * The typed error of a block that parity cannot rebuild: a CorruptionError
 * (code LADYBUG_CORRUPTION) that also names the run, the stripes and the blocks.
 */
import { CorruptionError } from '../errors.js';

export class StripeCorruptionError extends CorruptionError {
  readonly runId: number;
  /** Stripes the block lies in. */
  readonly stripes: readonly number[];
  /** Logical offsets of every block of those stripes that failed its check (the requested one first). */
  readonly badBlockOffsets: readonly number[];
  constructor(file: string, runId: number, blockOffset: number, stripes: readonly number[], badBlockOffsets: readonly number[], detail: string) {
    super(
      file,
      blockOffset,
      `run ${runId}, stripe ${stripes.join('+')}: block at ${blockOffset} cannot be rebuilt from parity (${detail}); ` +
        `bad blocks in the stripe: ${badBlockOffsets.join(', ')}`,
    );
    this.runId = runId;
    this.stripes = stripes;
    this.badBlockOffsets = badBlockOffsets;
  }
}

/** True for a read failure parity may work around (a checksum mismatch, EIO, a short read); false for a crash or a programming error. */
export function isRepairableReadError(error: unknown): boolean {
  if (error instanceof CorruptionError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { errno?: unknown; code?: unknown }).errno ?? (error as { code?: unknown }).code;
  return code === 'EIO';
}

/** Errors of a run footer page's read (no stripe covers it), marked where the open reads it (run-file-open.ts), with the page. */
const footerReadFailures = new WeakMap<object, { file: string; offset: number }>();

/**
 * Marks `error` as the failure of the read of run file `file`'s footer page at `offset`, so
 * that a scrub that could not open the run names the footer as the damaged place, by the
 * file's path (an I/O error carries neither).
 */
export function markFooterReadFailure(error: unknown, file: string, offset: number): void {
  if (typeof error === 'object' && error !== null) footerReadFailures.set(error, { file, offset });
}

/** Where the footer read that failed with `error` was (markFooterReadFailure), or undefined. */
export function footerReadFailure(error: unknown): { file: string; offset: number } | undefined {
  return typeof error === 'object' && error !== null ? footerReadFailures.get(error) : undefined;
}
