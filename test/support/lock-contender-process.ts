/**
 * A lock-contender child process (src/harness/lock-contender.ts) driven from a
 * test: its reports arrive in order and are awaited by type. By default it is
 * forked directly; `wrapper` starts it under another command instead (e.g.
 * `unshare --pid --fork` for another PID namespace, or a shell that never reaps it).
 * The IPC channel is inherited through the wrapper.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import type { ContenderCommand, ContenderReport } from '../../src/harness/lock-contender.js';

const running: LockContender[] = [];

/** Kills every contender started so far and waits for them (for afterEach). */
export async function killAllContenders(): Promise<void> {
  await Promise.all(running.splice(0).map((contender) => contender.kill()));
}

export class LockContender {
  readonly #child: ChildProcess;
  readonly #reports: ContenderReport[] = [];
  readonly #waiting: Array<() => void> = [];
  readonly #closed: Promise<void>;

  private constructor(contenderPath: string, directory: string, wrapper: readonly string[] | undefined) {
    const stdio: ['ignore', 'inherit', 'inherit', 'ipc'] = ['ignore', 'inherit', 'inherit', 'ipc'];
    this.#child = wrapper === undefined
      ? fork(contenderPath, [directory], { execArgv: [], stdio })
      : spawn(wrapper[0]!, [...wrapper.slice(1), process.execPath, contenderPath, directory], { stdio });
    this.#child.on('message', (report: ContenderReport) => {
      this.#reports.push(report);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.#closed = new Promise((resolve) => this.#child.on('close', () => resolve()));
    running.push(this);
  }

  /** A started contender that has loaded everything and waits for `open`. */
  static async start(contenderPath: string, directory: string, wrapper?: readonly string[]): Promise<LockContender> {
    const contender = new LockContender(contenderPath, directory, wrapper);
    await contender.#next(['armed']);
    return contender;
  }

  /** The pid of the process started (the wrapper, if there is one). */
  get pid(): number {
    return this.#child.pid!;
  }

  /** Tries to open the store once; resolves with `opened`, `locked` or `failed`. */
  open(writeKey?: string): Promise<ContenderReport> {
    this.#send(writeKey === undefined ? { type: 'open' } : { type: 'open', writeKey });
    return this.#next(['opened', 'locked', 'failed']);
  }

  /** Closes the store it holds and waits for it to exit. */
  async release(): Promise<void> {
    this.#send({ type: 'release' });
    await this.#next(['released']);
    await this.#closed;
  }

  /** SIGKILLs it (if still running) and waits for it to be gone: its lock is left stale. */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#closed;
  }

  exited(): Promise<void> {
    return this.#closed;
  }

  #send(command: ContenderCommand): void {
    this.#child.send(command);
  }

  async #next(types: ReadonlyArray<ContenderReport['type']>): Promise<ContenderReport> {
    for (;;) {
      const index = this.#reports.findIndex((report) => types.includes(report.type));
      if (index >= 0) return this.#reports.splice(index, 1)[0]!;
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error(`contender ${this.pid} exited before ${types.join('|')}`);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }
}
