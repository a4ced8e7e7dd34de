/**
 * The worker's side of the IPC channel to the crash-test parent.
 *
 * Intents and acknowledgements are queued in order and sent together, one
 * `events` message per turn of the event loop, so eight writers do not pay one
 * IPC message each per commit. The ordering rules the parent relies on:
 * - announce() resolves only when the message holding the intent has been
 *   written to the channel (process.send's callback: the bytes are in the kernel's
 *   pipe buffer and survive a SIGKILL of this process). The writer submits its
 *   commit after that, so the parent knows every commit that might be on disk.
 * - acknowledge() is called only after the commit's promise resolved; the ack is
 *   queued behind everything announced before it. A kill may drop queued acks,
 *   which only makes the parent's check weaker, never wrong.
 */
import type { Acknowledgement, Intent, WorkerEvent, WorkerMessage } from './crash-protocol.js';

export interface Announcer {
  announce(intent: Intent): Promise<void>;
  acknowledge(ack: Acknowledgement): void;
}

export class ParentChannel implements Announcer {
  #events: WorkerEvent[] = [];
  #waiters: Array<() => void> = [];
  #flushScheduled = false;

  constructor() {
    if (typeof process.send !== 'function') {
      throw new Error('the crash worker must be started with an IPC channel (child_process.fork)');
    }
  }

  announce(intent: Intent): Promise<void> {
    return new Promise((resolve) => {
      this.#events.push({ type: 'intent', intent });
      this.#waiters.push(resolve);
      this.#scheduleFlush();
    });
  }

  acknowledge(ack: Acknowledgement): void {
    this.#events.push({ type: 'ack', ack });
    this.#scheduleFlush();
  }

  /** Sends everything queued, then `message`; resolves when both are written to the channel. */
  async send(message: WorkerMessage): Promise<void> {
    this.#flush();
    await sendMessage(message);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#events.length === 0) return;
    const events = this.#events;
    const waiters = this.#waiters;
    this.#events = [];
    this.#waiters = [];
    sendMessage({ type: 'events', events }).then(
      () => { for (const wake of waiters) wake(); },
      () => process.exit(1), // the parent is gone: nobody is left to verify anything
    );
  }
}

function sendMessage(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, undefined, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}
