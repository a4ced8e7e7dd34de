/**
 * An open() that found no file descriptor free: the process's limit (EMFILE) or the
 * system's (ENFILE). Such an open wrote nothing, so the step that failed may be retried
 * (the flusher does, src/engine/flusher.ts); asTypedError (src/errors.ts) words the error
 * with what to do.
 */

const DESCRIPTOR_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE']);

/** What the IoError of such an open says after the system's message. */
export const OUT_OF_DESCRIPTORS_ADVICE =
  'too many open files (no file descriptor left: EMFILE is the process\'s limit, ENFILE the system\'s); ' +
  'the failed open wrote nothing: raise the limit (ulimit -n, systemd LimitNOFILE) or close stores and files this process does not need, then retry';

/** True for the system code of such an open. */
export function isDescriptorCode(code: string): boolean {
  return DESCRIPTOR_CODES.has(code);
}

/**
 * True for the error of such an open: a raw file-system error (`code`) or the IoError made
 * of it (`errno`, kept when it is rebuilt across a thread's port). Only the error itself
 * counts, never its cause: a StoreFailedError (a manifest write that failed so has failed
 * the manifest) carries a LADYBUG_ code and no errno, and is final.
 */
export function isOutOfFileDescriptors(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  return (typeof errno === 'string' && isDescriptorCode(errno)) || (typeof code === 'string' && isDescriptorCode(code));
}
