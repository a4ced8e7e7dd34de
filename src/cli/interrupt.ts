/**
 * Ctrl-C (SIGINT) and SIGTERM during a long-running command (dump, watch without --follow,
 * scrub, compact, repair and repair --dry-run, backup, verify, restore). Ended by the signal's default action, the process died holding
 * the store's lock (the next opener had to take over a dead holder's lock, and one in another
 * PID namespace counts it live until its heartbeat is 60 s old) and left its work half-done
 * without a word. Instead, the first signal aborts the command's `signal`: the command stops
 * its work through it (scrub's, backup's and restore's own signal; a compaction through
 * close(), which cancels it; dump between lines; verify at its next read: stopReads), closes
 * the store as on any error, and main prints one line, "ladybug: interrupted (SIGINT): <what
 * state things are in>" (the command keeps that text current: interruptState), and exits 130
 * for SIGINT or 143 for SIGTERM, the status a shell gives a process that signal ended. A
 * second signal exits at once with that status, whatever the work is doing.
 *
 * `watch --follow` handles the two signals itself (main.ts): stopping it is its normal end, exit 0.
 */
import type { FileHandle, FileSystem, OpenMode } from '../fs/file-system.js';

type SignalName = 'SIGINT' | 'SIGTERM';

const EXIT_STATUS: Readonly<Record<SignalName, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The abort reason of an interrupted command: main reports it (reportInterruption), never as a failure. */
export class InterruptedError extends Error {
  readonly signalName: SignalName;
  constructor(signalName: SignalName) {
    super(`interrupted (${signalName})`);
    this.signalName = signalName;
  }
}

const controller = new AbortController();
let received: SignalName | undefined;
let state: () => string = () => 'nothing was done';

function onSignal(name: SignalName): void {
  if (received !== undefined) {
    process.stderr.write(`ladybug: ${name} again: exiting at once, the work not cleaned up (a store left open is taken over by its next open)\n`);
    process.exit(EXIT_STATUS[name]);
  }
  received = name;
  controller.abort(new InterruptedError(name));
}

/** Makes this command interruptible (once per process); returns the signal its work stops by. */
export function interruptible(initialState: () => string): AbortSignal {
  state = initialState;
  for (const name of ['SIGINT', 'SIGTERM'] as const) process.on(name, () => onSignal(name));
  return controller.signal;
}

/** Lines a loop writes between two turns of the event loop (signalTurns). */
export const LINES_PER_SIGNAL_TURN = 256;

/**
 * For a loop that may never wait on I/O: a scan reads its blocks synchronously (a cold
 * block is inflated on the spot), and Node writes stdout to a file or a terminal
 * synchronously, so `ladybug dump ./data > dump.txt` never let the event loop deliver a
 * signal: Ctrl-C, and a second one, waited until the whole store was written (68 s for
 * 1M keys). The returned function, called once per line, gives the event loop a turn
 * (setImmediate: its poll phase, where a signal reaches its handler, comes first) every
 * LINES_PER_SIGNAL_TURN calls and returns undefined otherwise.
 */
export function signalTurns(): () => Promise<void> | undefined {
  let lines = 0;
  return () => {
    if (++lines % LINES_PER_SIGNAL_TURN !== 0) return undefined;
    return new Promise((resolve) => setImmediate(resolve));
  };
}

/** What an interruption leaves, from now on (said in the line main prints). */
export function interruptState(describe: () => string): void {
  state = describe;
}

/** Runs `stop` once the command is interrupted (at once if it already was). */
export function onInterrupt(signal: AbortSignal, stop: () => void): void {
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
}

/** If a signal interrupted the command: prints its one line, sets the exit status and returns true. */
export function reportInterruption(printable: (text: string) => string): boolean {
  if (received === undefined) return false;
  process.stderr.write(`ladybug: interrupted (${received}): ${printable(state())}\n`);
  process.exitCode = EXIT_STATUS[received];
  return true;
}

/**
 * `fileSystem` whose reads fail with the abort reason once `signal` aborts (verify takes no
 * signal; its reads are all it does), except the lock files', so its lock is still released.
 */
export function stopReads(fileSystem: FileSystem, signal: AbortSignal): FileSystem {
  const check = (path: string): void => {
    if (!/(^|\/)LOCK\.[^/]*$/.test(path)) signal.throwIfAborted();
  };
  return {

    open: async (path: string, mode: OpenMode): Promise<FileHandle> => {
      if (mode === 'read') check(path);
      const handle = await fileSystem.open(path, mode);
      return {
        get path() { return handle.path; },
        read: (buffer, offset, length, position) => {
          check(path);
          return handle.read(buffer, offset, length, position);
        },
        write: (...args) => handle.write(...args),
        datasync: () => handle.datasync(),
        sync: () => handle.sync(),
        truncate: (size) => handle.truncate(size),
        size: () => handle.size(),
        close: () => handle.close(),
      };
    },
    readFile: (path: string) => {
      check(path);
      return fileSystem.readFile(path);
    },
    readdir: (dir) => fileSystem.readdir(dir),
    mkdir: (dir) => fileSystem.mkdir(dir),
    rename: (from, to) => fileSystem.rename(from, to),
    link: (from, to) => fileSystem.link(from, to),
    unlink: (path) => fileSystem.unlink(path),
    exists: (path) => fileSystem.exists(path),
    syncDirectory: (dir) => fileSystem.syncDirectory(dir),
    ...(fileSystem.removeDirectory === undefined ? {} : { removeDirectory: (dir: string) => fileSystem.removeDirectory!(dir) }),
  };
}
