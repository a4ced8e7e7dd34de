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

/** The output a command queues for a slow reader before it waits for the reader (writeOut). */
export const STDOUT_QUEUED_BYTES_MAX = 1024 * 1024;

/**
 * Writes `text` to stdout, or throws OutputClosedError once stdout has failed or been closed.
 * Returns a promise once STDOUT_QUEUED_BYTES_MAX is queued: a loop of lines (dump, watch) awaits it, so
 * a slow reader paces the command. Stdout to a pipe is asynchronous in Node, and a dump that
 * wrote on regardless queued the whole store's output in memory. The promise resolves once the
 * buffer drained, or when `signal` aborts (the command is ending; its loop sees the abort);
 * it rejects with OutputClosedError when stdout fails or closes meanwhile.
 */
export function writeOut(text: string, signal?: AbortSignal): Promise<void> | undefined {
  if (reported !== undefined || process.stdout.destroyed) throw new OutputClosedError(reported);
  // Waiting at every full 16 KiB buffer (write() returning false) made a dump into a fast
  // reader (| cat) 30% slower; past 1 MiB queued, a write has returned false, so 'drain' comes.
  process.stdout.write(text);
  if (process.stdout.writableLength < STDOUT_QUEUED_BYTES_MAX) return undefined;
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      process.stdout.off('drain', settle).off('error', settle).off('close', settle);
      signal?.removeEventListener('abort', settle);
      if (reported !== undefined || process.stdout.destroyed) reject(new OutputClosedError(reported));
      else resolve();
    };
    // After guardStdout's listener, so an error is recorded before this settles.
    process.stdout.on('drain', settle).on('error', settle).on('close', settle);
    signal?.addEventListener('abort', settle);
  });
}

/** The error stdout reported after the last write, if any (checked once the command ends). */
export function stdoutFailure(): OutputClosedError | undefined {
  return reported === undefined ? undefined : new OutputClosedError(reported);
}
