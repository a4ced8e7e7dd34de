/** Shared test helpers: temporary store directories on the real disk. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
