/**
 * Whether anyone still reads the command's standard output, asked without writing to it.
 *
 * A command that waits with nothing to print (`ladybug watch --follow | head -1` on an
 * idle store) learns that the reader closed the pipe only from its next write (EPIPE),
 * and on an idle store no write comes: the pipeline hung, the store stayed open. The
 * kernel tells a writer that the read end is gone without a write only through poll(2):
 * POLLERR on a pipe whose readers all closed, POLLHUP on a socket whose peer closed (the
 * pipes `child_process` gives a child are socket pairs). Node has no poll of its own, but
 * its WASI binding implements poll_oneoff with libuv's fd poll: one call on fd 1 (a write
 * subscription beside a 1 ms clock, so a full pipe blocks it no longer) says whether the
 * reader is gone. The probe runs from an unref'd interval, only when stdout is
 * a pipe or a socket (a terminal or a file has no reader to lose), and does nothing where
 * WASI is unavailable (the command then notices at its next write, as before).
 *
 * WASI is flagged experimental by Node, which prints a warning on first use; that one
 * warning is not passed on (a command's stderr carries its own messages only).
 */
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';

/** How often a waiting command asks (a closed reader is noticed within this). */
export const STDOUT_READER_PROBE_MS = 200;

const SUBSCRIPTION_BYTES = 48;
const EVENTS_AT = 128;
const EVENT_COUNT_AT = 240;
const EVENT_TYPE_CLOCK = 0;
const EVENT_TYPE_FD_WRITE = 2;
const CLOCK_MONOTONIC = 1;
/** The longest one probe blocks (1 ms), when the pipe is full. */
const PROBE_WAIT_NS = 1_000_000n;
const EVENT_HANGUP = 1;
/** A WebAssembly module of one exported page of memory ("memory"): where poll_oneoff reads and writes. */
const MEMORY_ONLY_MODULE = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0]);

type PollOneoff = (subscriptions: number, events: number, count: number, eventCount: number) => number;

interface WasmInstance {
  exports: Record<string, unknown>;
}

interface WasiLike {
  wasiImport: Record<string, unknown>;
  initialize(instance: WasmInstance): void;
}

/** The WebAssembly global (this project's TypeScript libs do not declare it). */
const wasm = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => WasmInstance };
}).WebAssembly;

/** A WASI instance, made without the binding's experimental-feature warning; undefined when it cannot be. */
function makeWasi(): WasiLike | undefined {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!String(warning instanceof Error ? warning.message : warning).startsWith('WASI ')) (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    const { WASI } = createRequire(import.meta.url)('node:wasi') as { WASI: new (options: object) => WasiLike };
    return new WASI({ version: 'preview1' });
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** A function that answers "is fd 1's reader gone?" without writing, or undefined when it cannot be asked. */
function stdoutProbe(): (() => boolean) | undefined {
  let kind;
  try {
    kind = fstatSync(1);
  } catch {
    return undefined;
  }
  if (!kind.isFIFO() && !kind.isSocket()) return undefined;
  try {
    const wasi = makeWasi();
    if (wasi === undefined) return undefined;
    const instance = new wasm.Instance(new wasm.Module(MEMORY_ONLY_MODULE), {});
    wasi.initialize(instance);
    const poll = (wasi.wasiImport['poll_oneoff'] as PollOneoff).bind(wasi.wasiImport); // a method of the binding: called detached, it throws
    const memory = new DataView((instance.exports['memory'] as { buffer: ArrayBuffer }).buffer);
    return () => {
      new Uint8Array(memory.buffer, 0, EVENT_COUNT_AT + 4).fill(0);
      memory.setBigUint64(0, 1n, true); // userdata 1: fd 1 writable (or its reader gone)
      memory.setUint8(8, EVENT_TYPE_FD_WRITE);
      memory.setUint32(16, 1, true);
      // userdata 2: a relative clock, so a full pipe (a reader that does not read) blocks the call for at most this.
      // Not 0: a clock due at once ends the call before the fd is polled at all.
      memory.setBigUint64(SUBSCRIPTION_BYTES, 2n, true);
      memory.setUint8(SUBSCRIPTION_BYTES + 8, EVENT_TYPE_CLOCK);
      memory.setUint32(SUBSCRIPTION_BYTES + 16, CLOCK_MONOTONIC, true);
      memory.setBigUint64(SUBSCRIPTION_BYTES + 24, PROBE_WAIT_NS, true);
      if (poll(0, EVENTS_AT, 2, EVENT_COUNT_AT) !== 0) return false;
      const count = memory.getUint32(EVENT_COUNT_AT, true);
      for (let index = 0; index < count; index++) {
        const at = EVENTS_AT + index * 32;
        if (memory.getBigUint64(at, true) !== 1n || memory.getUint8(at + 10) !== EVENT_TYPE_FD_WRITE) continue;
        // An error is the pipe's POLLERR (no reader left); HANGUP is a socket whose peer closed.
        if (memory.getUint16(at + 8, true) !== 0 || (memory.getUint16(at + 24, true) & EVENT_HANGUP) !== 0) return true;
      }
      return false;
    };
  } catch {
    return undefined;
  }
}

/**
 * Calls `onGone` once, soon after stdout's reader goes away (checked every
 * STDOUT_READER_PROBE_MS while the command runs; the interval keeps no process alive).
 * Returns the function that stops watching.
 */
export function watchStdoutReader(onGone: () => void): () => void {
  const probe = stdoutProbe();
  if (probe === undefined) return () => undefined;
  const timer = setInterval(() => {
    let gone = false;
    try {
      gone = probe();
    } catch {
      gone = false; // a probe that cannot answer is no evidence: the next write still tells
    }
    if (!gone) return;
    clearInterval(timer);
    onGone();
  }, STDOUT_READER_PROBE_MS);
  timer.unref();
  return () => clearInterval(timer);
}
