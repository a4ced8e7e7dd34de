/**
 * BlockInflater: the raw-deflate decompression of a packed cold block (run format 4)
 * through ONE zlib stream kept for the process, reset between blocks, into a reused
 * output buffer: the point read's inflate without Node's per-call costs.
 *
 * `zlib.inflateRawSync` makes a zlib stream object and its native handle (inflate
 * state and 32 KiB window) for every call, allocates an output chunk, and closes the
 * handle at the end (its processChunkSync always does, so a stream cannot be reused
 * through the public API). For a packed block of ~4 KiB of entries (~700 B
 * compressed) that overhead is most of the call: on this machine (busy, one 3.9 KiB
 * block) inflateRawSync took 6.8-7.3 us, the same inflate through one reused handle
 * 2.5 us (3.6 us with the copy a cached block needs). So this drives the handle the
 * way processChunkSync does, `handle.writeSync(Z_FINISH, in, 0, inLength, out, 0,
 * outLength)` with the stream's `_writeState` ([availOut, availIn] after the call),
 * and `handle.reset()` before the next block. Those are Node internals (stable since
 * Node 10, and what its own sync API uses): the inflater checks them once, with a
 * block it compresses and inflates at load, and where they are missing or answer
 * wrong, `inflateBlock` returns undefined and the caller uses inflateRawSync.
 *
 * A block is answered here only when the whole payload was consumed and its output
 * left room in the buffer (so the deflate stream ended inside it); anything else
 * (a block decoding to INFLATE_SCRATCH_BYTES or more, trailing bytes) returns
 * undefined and goes to inflateRawSync with its bound, which decides it exactly as
 * before. A zlib error (the checksum passed, so a writer bug) is reported by the
 * handle's `onerror` during writeSync; the inflater then throws CorruptionError and
 * closes that stream (zlib says there is no clean recovery), making a new one for
 * the next block.
 *
 * Invariants: the bytes returned are a view of the output scratch, valid only until
 * the next inflateBlock call (synchronous: a caller decodes or copies them before it
 * awaits anything); the stream is reset (or replaced) before every block; the scratch
 * never grows past INFLATE_SCRATCH_BYTES.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { CorruptionError } from '../errors.js';
import { enterZlib, leaveZlib } from '../util/zlib-gate.js';

/** Output scratch: 16 times a packed block's target, so any usual block (and most with a large value) inflates here. */
export const INFLATE_SCRATCH_BYTES = 64 * 1024;

/** The part of Node's zlib handle this uses (what processChunkSync calls). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Uint8Array, outOffset: number, outLength: number): void;
  reset(): void;
  close(): void;
  onerror: ((message: string, errno: number, code: string) => void) | undefined;
}

interface ReusedStream {
  handle: ZlibHandle;
  /** [availOut, availIn] after each writeSync. */
  state: Uint32Array;
}

/** A raw-inflate stream whose handle this can drive, or undefined when the internals are not there. */
function openStream(onError: (message: string) => void): ReusedStream | undefined {
  // Making the stream makes its native handle: a worker thread is not terminated meanwhile (src/util/zlib-gate.ts).
  enterZlib();
  let stream: { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
  try {
    stream = new zlib.InflateRaw() as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
  } finally {
    leaveZlib();
  }
  const handle = stream._handle;
  const state = stream._writeState;
  if (handle === undefined || handle === null || !(state instanceof Uint32Array) || state.length < 2) return undefined;
  if (typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || typeof handle.close !== 'function') return undefined;
  // Replaces the stream's own handler, which would destroy the stream and emit 'error' later.
  handle.onerror = (message: string) => onError(message);
  return { handle: handle as ZlibHandle, state };
}

export class BlockInflater {
  #stream: ReusedStream | undefined;
  #output = Buffer.allocUnsafeSlow(INFLATE_SCRATCH_BYTES);
  #failure: string | undefined = undefined;
  /** False once the handle was found missing or wrong: every block goes to the caller's fallback. */
  #usable: boolean;
  /** Blocks inflated here, and blocks left to the fallback (tests). */
  readonly counters = { inflated: 0, declined: 0, streamsOpened: 0 };

  constructor() {
    this.#usable = this.#selfTest();
  }

  get usable(): boolean {
    return this.#usable;
  }

  /**
   * The decompressed bytes of `payload` (raw deflate) as a view of the output
   * scratch, valid until the next call; undefined when this cannot answer (the
   * caller inflates with inflateRawSync). A zlib error is a CorruptionError naming `file` and `offset`.
   */
  inflateBlock(payload: Uint8Array, file: string, offset: number): Buffer | undefined {
    const length = this.inflateInto(payload, 0, payload.length, file, offset);
    return length < 0 ? undefined : this.#output.subarray(0, length);
  }

  /** The output scratch: inflateInto's answer lies at its start, valid until the next call. */
  get output(): Buffer {
    return this.#output;
  }

  /**
   * inflateBlock without making a view (a point read's walk takes the scratch and a
   * length: two Buffer objects fewer per cold miss): inflates the `inLength` bytes of
   * `input` from `inOffset` into the output scratch and returns their decompressed
   * length, or -1 when this cannot answer (the caller inflates with inflateRawSync). A
   * zlib error is a CorruptionError naming `file` and `offset`.
   */
  inflateInto(input: Uint8Array, inOffset: number, inLength: number, file: string, offset: number): number {
    if (!this.#usable) return -1;
    const stream = this.#stream ?? this.#open();
    if (stream === undefined) return -1;
    const output = this.#output;
    this.#failure = undefined;
    try {
      stream.handle.writeSync(zlib.constants.Z_FINISH, input, inOffset, inLength, output, 0, output.length);
    } catch (error) {
      this.#discard();
      throw new CorruptionError(file, offset, `data block does not decompress: ${(error as Error).message}`);
    }
    if (this.#failure !== undefined) {
      const message = this.#failure;
      this.#discard();
      throw new CorruptionError(file, offset, `data block does not decompress: ${message}`);
    }
    const availOut = stream.state[0] as number;
    const availIn = stream.state[1] as number;
    stream.handle.reset();
    if (availOut === 0 || availIn !== 0) {
      this.counters.declined++;
      return -1;
    }
    this.counters.inflated++;
    return output.length - availOut;
  }

  #open(): ReusedStream | undefined {
    this.#stream = openStream((message) => {
      this.#failure = message;
    });
    if (this.#stream === undefined) this.#usable = false;
    else this.counters.streamsOpened++;
    return this.#stream;
  }

  /** Closes a stream that failed (zlib: no clean recovery); the next block opens a new one. */
  #discard(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream === undefined) return;
    try {
      stream.handle.close();
    } catch {
      // A handle that failed may refuse the close; it is dropped either way.
    }
  }

  /**
   * Inflates two known raw-deflate streams one after the other (SELF_TEST_*: the second
   * checks the reset between blocks) and compares: false leaves every block to the
   * fallback. The streams are constants, not compressed here: two deflateRawSync calls
   * (a deflate state each) were most of this test's 4.5-8.5 ms in a fresh process, and
   * it runs inside the first cold read after a reopen (issue 7).
   */
  #selfTest(): boolean {
    this.#usable = true;
    try {
      const raw = selfTestBytes();
      const first = this.inflateBlock(Buffer.from(SELF_TEST_WHOLE_DEFLATED, 'base64'), 'self-test', 0);
      const second = first !== undefined && first.equals(raw) ? this.inflateBlock(Buffer.from(SELF_TEST_TAIL_DEFLATED, 'base64'), 'self-test', 0) : undefined;
      return second !== undefined && second.equals(raw.subarray(SELF_TEST_TAIL_START));
    } catch {
      this.#discard();
      return false;
    } finally {
      this.counters.inflated = 0;
    }
  }
}

/** The self-test's raw bytes: SELF_TEST_BYTES of (index * 7) % 61. */
export function selfTestBytes(): Buffer {
  const raw = Buffer.alloc(SELF_TEST_BYTES);
  for (let index = 0; index < raw.length; index++) raw[index] = (index * 7) % 61;
  return raw;
}

export const SELF_TEST_BYTES = 3000;
export const SELF_TEST_TAIL_START = 1000;
/** zlib.deflateRawSync(selfTestBytes(), { level: 1 }), base64 (test/run-block-inflater.test.ts checks it inflates back). */
export const SELF_TEST_WHOLE_DEFLATED =
  'Y2DnE5VR1jK0YOIUEJdT1TG2YuEWklRQ1zO1YeMVkVbSNDBn5OAXk1XRNrJk5hKUkFfTNbFm5RGWUtTQN2MY1TwaYKOJZDRjjBYGo6XnaI0xWkuOtgxGm1KjzUd6NJkB';
/** zlib.deflateRawSync(selfTestBytes().subarray(SELF_TEST_TAIL_START), { level: 1 }), base64. */
export const SELF_TEST_TAIL_DEFLATED = '0zO1YeMVkVbSNDBn5OAXk1XRNrJk5hKUkFfTNbFm5RGWUtTQN2Ng5xOVUdYytGDiFBCXU9UxtmLhFpJUUNcb1TwaYKOJZDRjjBYGo6XnaI0xGGpJAA==';

/** The process's inflater (each worker thread has its own module instance). */
let shared: BlockInflater | undefined;

/** The shared BlockInflater, made on first use. */
export function blockInflater(): BlockInflater {
  shared ??= new BlockInflater();
  return shared;
}
