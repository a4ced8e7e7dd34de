/**
 * One crash worker's life, seen from the crash-test parent: fork it, pass every
 * intent and ack it sends to the model, crash it `killAfterMs` after its `ready`
 * (SIGKILL, or the `power-loss` message), and wait until it is gone.
 *
 * Resolves on the child's 'close' event, which Node emits only after the IPC
 * channel is drained and closed: every message the worker wrote before it died
 * has been handed to `onEvent` by then. Resolves with the worker errors seen
 * (an `error` message, an unexpected exit, a timeout), each with the tail of the
 * worker's output where it helps, and the last store activity the worker reported:
 * what its store's background work was doing when it died.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { CrashMode } from '../fs/fault-file-system.js';
import {
  type CrashTestMode,
  encodeStoreSettings,
  type HarnessStoreSettings,
  type ParentMessage,
  type StoreActivity,
  type WorkerEvent,
  type WorkerMessage,
} from './crash-protocol.js';

export interface WorkerLaunch {
  workerPath: string;
  directory: string;
  mode: CrashTestMode;
  cycle: number;
  workerSeed: number;
  killAfterMs: number;
  /** Power-loss mode: what survives the crash, and how many more file-system calls get through first. */
  crashMode: CrashMode;
  operationsBeforeCrash: number;
  /** Store options the worker opens with (on top of HARNESS_STORE_OPTIONS). */
  storeSettings: HarnessStoreSettings;
}

const READY_TIMEOUT_MS = 120_000;
const CRASH_EXIT_TIMEOUT_MS = 60_000;
const OUTPUT_TAIL_CHARACTERS = 4000;

export interface WorkerOutcome {
  errors: string[];
  /** Undefined if the worker died before reporting any. */
  lastActivity: StoreActivity | undefined;
}

export function runWorkerToCrash(launch: WorkerLaunch, onEvent: (event: WorkerEvent) => void): Promise<WorkerOutcome> {
  const workerArguments = [launch.directory, String(launch.workerSeed), launch.mode, String(launch.cycle), encodeStoreSettings(launch.storeSettings)];
  const child = fork(launch.workerPath, workerArguments, { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  return new WorkerSession(child, launch, onEvent).run();
}

class WorkerSession {
  readonly #child: ChildProcess;
  readonly #launch: WorkerLaunch;
  readonly #onEvent: (event: WorkerEvent) => void;
  readonly #errors: string[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #output = '';
  #lastActivity: StoreActivity | undefined;
  #crashRequested = false;
  #crashed = false;

  constructor(child: ChildProcess, launch: WorkerLaunch, onEvent: (event: WorkerEvent) => void) {
    this.#child = child;
    this.#launch = launch;
    this.#onEvent = onEvent;
    child.stdout?.on('data', (chunk: Buffer) => this.#keepOutput(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.#keepOutput(chunk));
  }

  run(): Promise<WorkerOutcome> {
    return new Promise((resolve, reject) => {
      const readyTimer = this.#after(READY_TIMEOUT_MS, () => this.#abort(`no ready within ${READY_TIMEOUT_MS} ms`));
      this.#child.on('error', reject);
      this.#child.on('message', (message: WorkerMessage) => this.#onMessage(message, readyTimer));
      this.#child.on('close', (code, signal) => {
        for (const timer of this.#timers) clearTimeout(timer);
        this.#checkExit(code, signal);
        resolve({ errors: this.#errors, lastActivity: this.#lastActivity });
      });
    });
  }

  #onMessage(message: WorkerMessage, readyTimer: NodeJS.Timeout): void {
    switch (message.type) {
      case 'ready':
        clearTimeout(readyTimer);
        this.#after(this.#launch.killAfterMs, () => this.#crash());
        return;
      case 'events':
        for (const event of message.events) this.#onEvent(event);
        return;
      case 'activity':
        this.#lastActivity = message.activity;
        return;
      case 'crashed':
        this.#crashed = true;
        return;
      case 'error':
        this.#errors.push(`worker error: ${message.message}`);
        return;
    }
  }

  #crash(): void {
    this.#crashRequested = true;
    if (this.#launch.mode === 'kill') {
      this.#child.kill('SIGKILL');
      return;
    }
    const { crashMode, operationsBeforeCrash } = this.#launch;
    const message: ParentMessage = { type: 'power-loss', crashMode, operationsBeforeCrash };
    this.#child.send(message);
    this.#after(CRASH_EXIT_TIMEOUT_MS, () => this.#abort(`no exit within ${CRASH_EXIT_TIMEOUT_MS} ms of the power loss`));
  }

  /** Kill mode ends in our SIGKILL; power-loss mode in exit code 0 after `crashed`. */
  #checkExit(code: number | null, signal: NodeJS.Signals | null): void {
    const expected = this.#launch.mode === 'kill'
      ? this.#crashRequested && signal === 'SIGKILL'
      : this.#crashRequested && this.#crashed && code === 0;
    if (expected) return;
    this.#errors.push(`worker ended unexpectedly (code ${code}, signal ${signal}, crash requested: ${this.#crashRequested}); output:\n${this.#output}`);
  }

  #abort(reason: string): void {
    this.#errors.push(reason);
    this.#child.kill('SIGKILL');
  }

  #after(delayMs: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, delayMs);
    this.#timers.add(timer);
    return timer;
  }

  #keepOutput(chunk: Buffer): void {
    this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARACTERS);
  }
}
