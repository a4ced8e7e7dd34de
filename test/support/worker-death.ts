/**
 * Ends the store's worker threads the ways a real thread dies, for the
 * review-thread-exit-* tests, without hooks inside the workers:
 *
 * - 'throw': the worker is sent `null`; its message handler reads `message.type`
 *   (flush and merge workers) or destructures the message (piscina's bootstrap
 *   handler) and throws an uncaught TypeError: 'error' then 'exit' with code 1.
 * - 'oom': the worker is sent an array of small objects larger than its heap
 *   limit; deserializing it in the worker's isolate ends the thread with
 *   ERR_WORKER_OUT_OF_MEMORY, as V8's resourceLimits do (a single huge string would
 *   instead abort the whole process: V8 cannot recover a large-object allocation).
 * - 'exit': terminate(): what process.exit() in the thread looks like from the main
 *   thread ('exit' with no 'error' first).
 *
 * A message is processed by the worker only when its event loop turns, so the death
 * lands where the worker waits: held by a test hook, idle after answering, or
 * between two steps of its loop. `WorkerSpy` lists the workers that were sent a
 * message of a given type and can swallow a reply before the main side sees it (the
 * worker "died before it answered", after everything it did for that reply).
 */
import { Worker } from 'node:worker_threads';
import { terminateSafely } from '../../src/util/zlib-gate.js';

export type Death = 'throw' | 'oom' | 'exit';

export interface DeathSeen {
  exitCode: number;
  error: Error | undefined;
}

/** Objects per MiB of the worker's old generation, with margin (1M objects exceeded a 64 MiB heap). */
const OBJECTS_PER_MB = 24_000;

/** Ends `worker` as `death` says; resolves with what its 'error' and 'exit' events carried. */
export function killWorker(worker: Worker, death: Death, heapLimitMb: number): Promise<DeathSeen> {
  const seen = new Promise<DeathSeen>((resolve) => {
    let error: Error | undefined;
    worker.on('error', (caught: Error) => (error = caught));
    worker.once('exit', (exitCode: number) => resolve({ exitCode, error }));
  });
  // Through the thread's zlib gate when it has one (merge, flush): a thread that exits on its own never does so inside a zlib call.
  if (death === 'exit') void terminateSafely(worker);
  else if (death === 'throw') originalPostMessage.call(worker, null);
  else {
    const count = heapLimitMb * OBJECTS_PER_MB;
    const hog = new Array<{ i: number; j: number }>(count);
    for (let index = 0; index < count; index++) hog[index] = { i: index, j: -index };
    originalPostMessage.call(worker, { type: 'hog', hog });
  }
  return seen;
}

const originalPostMessage = Worker.prototype.postMessage;
const originalEmit = Worker.prototype.emit;

type Swallow = { type: string; onSwallowed: (worker: Worker, message: unknown) => void };

/**
 * While installed: records every Worker sent a message whose `type` is in `types`
 * (by that type; a piscina thread's bootstrap message, which has no type, names the
 * worker file, the pool's CommonJS entry compression-worker-entry.cjs: it is recorded
 * as 'piscina' when `types` holds that), and swallows the
 * next message of a chosen type from a recorded worker (`swallowNext`).
 */
export class WorkerSpy {
  readonly #types: ReadonlySet<string>;
  readonly seen = new Map<string, Worker[]>();
  /** Resolves when the recorded worker has exited. */
  readonly #exits = new Map<Worker, Promise<number>>();
  #swallow: Swallow | undefined;
  #replaceType: string | undefined;

  constructor(types: string[]) {
    this.#types = new Set(types);
  }

  install(): void {
    this.seen.clear();
    const spy = this;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
      const typed = (message as { type?: unknown } | null)?.type;
      const file = (message as { filename?: unknown } | null)?.filename;
      const type = typed ?? (typeof file === 'string' && file.endsWith('compression-worker-entry.cjs') ? 'piscina' : undefined);
      if (typeof type === 'string' && spy.#types.has(type)) {
        const list = spy.seen.get(type) ?? [];
        if (!list.includes(this)) {
          list.push(this);
          spy.#exits.set(this, new Promise<number>((resolve) => this.once('exit', resolve)));
        }
        spy.seen.set(type, list);
        if (spy.#replaceType === type) {
          spy.#replaceType = undefined;
          return (originalPostMessage as (...args: unknown[]) => void).call(this, null);
        }
      }
      return (originalPostMessage as (...args: unknown[]) => void).call(this, message, ...rest);
    };
    Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]): boolean {
      const swallow = spy.#swallow;
      if (event === 'message' && swallow !== undefined && spy.#recorded(this) && (args[0] as { type?: unknown } | null)?.type === swallow.type) {
        spy.#swallow = undefined;
        swallow.onSwallowed(this, args[0]);
        return true;
      }
      return originalEmit.call(this, event, ...args);
    } as typeof Worker.prototype.emit;
  }

  restore(): void {
    Worker.prototype.postMessage = originalPostMessage;
    Worker.prototype.emit = originalEmit;
    this.#swallow = undefined;
    this.#replaceType = undefined;
  }

  /** The next message of `type` from a recorded worker never reaches the main side; `onSwallowed` is called instead. */
  swallowNext(type: string, onSwallowed: (worker: Worker, message: unknown) => void): void {
    this.#swallow = { type, onSwallowed };
  }

  /** The next message of `type` is posted as `null` instead: the worker's handler throws on it (a bootstrap that fails). */
  nullNext(type: string): void {
    this.#replaceType = type;
  }

  /** Resolves with the exit code once `worker` (recorded) has exited. */
  exited(worker: Worker): Promise<number> {
    const exit = this.#exits.get(worker);
    if (exit === undefined) throw new Error('not a recorded worker');
    return exit;
  }

  /** The last worker sent a message of `type`. */
  last(type: string): Worker {
    const list = this.seen.get(type);
    if (list === undefined || list.length === 0) throw new Error(`no worker was sent a '${type}' message`);
    return list.at(-1)!;
  }

  #recorded(worker: Worker): boolean {
    for (const list of this.seen.values()) if (list.includes(worker)) return true;
    return false;
  }
}
