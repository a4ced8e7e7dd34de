/**
 * A child process that contends for a store's directory lock, for the
 * directory-lock race tests:
 *
 *   node dist/src/harness/lock-contender.js <dir>      (started with child_process.fork)
 *
 * It loads everything, sends `armed`, and waits for `open` so that several
 * contenders can be released at the same moment. Then it calls openStore once:
 * - it won: optionally puts `writeKey` = its pid (acknowledged, so durable), sends
 *   `opened`, and holds the store until `release` (then closes it, sends
 *   `released` and exits) or until it is killed (a stale lock for the next round);
 * - StoreLockedError: sends `locked` with the holder's pid (as this contender sees it:
 *   a pid of another PID namespace is that namespace's number) and why it counts as
 *   live, and exits;
 * - anything else: sends `failed` and exits with code 1.
 */
import { resolve } from 'node:path';
import { StoreLockedError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export type ContenderCommand = { type: 'open'; writeKey?: string } | { type: 'release' };

export type ContenderReport =
  | { type: 'armed'; pid: number }
  | { type: 'opened'; pid: number; version: number }
  | { type: 'locked'; pid: number; holderPid: number; liveReason: string }
  | { type: 'failed'; pid: number; message: string }
  | { type: 'released'; pid: number };

function send(report: ContenderReport): Promise<void> {
  return new Promise((resolvePromise) => process.send!(report, undefined, undefined, () => resolvePromise()));
}

async function contend(directory: string, writeKey: string | undefined): Promise<Store | undefined> {
  try {
    const store = await openStore(directory);
    if (writeKey !== undefined) await store.put(writeKey, process.pid);
    await send({ type: 'opened', pid: process.pid, version: store.version });
    return store;
  } catch (error) {
    if (error instanceof StoreLockedError) {
      await send({ type: 'locked', pid: process.pid, holderPid: error.holderPid, liveReason: error.liveReason });
    } else {
      await send({ type: 'failed', pid: process.pid, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      process.exitCode = 1;
    }
    return undefined;
  }
}

function main(): void {
  const directory = process.argv[2];
  if (directory === undefined || typeof process.send !== 'function') {
    process.stderr.write('usage: lock-contender <dir> (started with child_process.fork)\n');
    process.exit(2);
  }
  let store: Promise<Store | undefined> | undefined;
  process.on('message', (command: ContenderCommand) => {
    if (command.type === 'open' && store === undefined) {
      store = contend(resolve(directory), command.writeKey);
      void store.then((opened) => { if (opened === undefined) process.disconnect(); });
    } else if (command.type === 'release') {
      void release(store);
    }
  });
  void send({ type: 'armed', pid: process.pid });
}

async function release(pending: Promise<Store | undefined> | undefined): Promise<void> {
  await (await pending)?.close();
  await send({ type: 'released', pid: process.pid });
  process.disconnect();
}

main();
