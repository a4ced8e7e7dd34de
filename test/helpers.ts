/** Shared test helpers: temporary store directories on the real disk. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FileSystem, parentDirectory } from '../src/fs/file-system.js';

const created: string[] = [];

export function temporaryDirectory(prefix = 'ladybug-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export function removeTemporaryDirectories(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A macrotask turn if `everyMs` passed since the last one this function gave. For sweeps
 * on the in-memory file systems, whose calls settle as microtasks: a sweep that never
 * yields holds the worker's timers and IPC for its whole length, and past vitest's 60 s
 * RPC timeout the run fails with no test named (test/support/event-loop-watch.ts).
 */
export function turnTaker(everyMs = 500): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < everyMs) return;
    await new Promise((resolve) => setImmediate(resolve));
    last = performance.now();
  };
}

/** Whether `promise` has settled yet, and with what error, read synchronously as the test goes. */
export function settled(promise: Promise<unknown>): { done: boolean; error: unknown } {
  const state: { done: boolean; error: unknown } = { done: false, error: undefined };
  promise.then(() => {
    state.done = true;
  }, (error: unknown) => {
    state.done = true;
    state.error = error;
  });
  return state;
}

/**
 * Creates `directory` (and any missing ancestor) and makes every entry leading to it
 * durable, from the directory up to the root: for tests that set up a directory on a
 * fault file system before a crash sweep. A directory whose own entry was never
 * synced vanishes in the crash modes that lose unsynced entries ('drop-unsynced',
 * 'torn-last-write', half of 'random-subset'), and whatever the workload made durable
 * inside it with it, so a check of what survived could never run in those modes.
 */
export async function makeDurableDirectory(fileSystem: FileSystem, directory: string): Promise<void> {
  await fileSystem.mkdir(directory);
  for (let current = directory; ; current = parentDirectory(current)) {
    await fileSystem.syncDirectory(current);
    if (current === '/') return;
  }
}

/** A deterministic shuffle (xorshift), so a failure repeats. */
export function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed;
  for (let index = items.length - 1; index > 0; index--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const other = (state >>> 0) % (index + 1);
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}
