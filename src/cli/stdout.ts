/**
 * The command's standard output, for a reader that may go away: `ladybug dump | head`
 * closes the pipe after a few lines. A write to a closed pipe fails with EPIPE as an
 * 'error' event of process.stdout, which nothing handled: the process died with
 * "Unhandled 'error' event" and a stack trace, exit 1, the store never closed. Here the
 * event is recorded, and the next write throws OutputClosedError instead of writing:
 * the command's loop ends, the store is closed as on any error, and main exits quietly
 * with the status the command had set (the reader chose to stop; nothing failed). Any
 * other error of stdout (EIO, a full disk under a redirect) is a failure: one line, exit 1.
 */
export class OutputClosedError extends Error {
  /** The error stdout reported; undefined when it was found destroyed without one. */
  readonly reported: Error | undefined;
  constructor(reported: Error | undefined) {
    super(`cannot write the output: ${reported?.message ?? 'stdout is closed'}`);
    this.reported = reported;
  }

  /** True when the reader closed the pipe: not a failure of the command. */
  get readerGone(): boolean {
    const code = (this.reported as { code?: unknown } | undefined)?.code;
    return this.reported === undefined || code === 'EPIPE';
  }
}

let reported: Error | undefined;

/** Handles stdout's 'error' event (once per process, before anything is written). */
export function guardStdout(): void {
  process.stdout.on('error', (error: Error) => {
    reported ??= error;
  });
}

/**
 * Records that stdout's reader went away, found without a write (stdout-reader.ts): from
 * here on stdout counts as closed by its reader, as after an EPIPE: the next write throws
 * and main ends the command quietly with the status it had set.
 */
export function stdoutReaderGone(): void {
  reported ??= Object.assign(new Error('the reader closed stdout'), { code: 'EPIPE' });
}

/** Writes `text` to stdout, or throws OutputClosedError once stdout has failed or been closed. */
export function writeOut(text: string): void {
  if (reported !== undefined || process.stdout.destroyed) throw new OutputClosedError(reported);
  process.stdout.write(text);
}

/** The error stdout reported after the last write, if any (checked once the command ends). */
export function stdoutFailure(): OutputClosedError | undefined {
  return reported === undefined ? undefined : new OutputClosedError(reported);
}
