/**
 * A writer let through a write stall must not start compactions that are not needed.
 * WriteStall#admit lets one stalled writer through per event-loop turn (#admitting,
 * cleared by a setImmediate); a writer that arrived meanwhile looped in admit and, not
 * memory-stalled, called compactor.schedule() though no backlog stalled it. When the
 * merge that started failed at once (every file-system call failing after a crash, on
 * a file system that answers without I/O), its end woke the writer, which scheduled
 * again: a microtask loop that never let the setImmediate run, so the put never
 * settled and the process spun (found by review3-large-value-crash: a crash after the
 * 252nd operation of its 4 KiB workload).
 *
 * The file system here stops answering (a promise that never settles) after many calls
 * past the crash, so the old loop ends in a failed expectation instead of a hang: a
 * crash costs a few dozen failed calls, the loop tens of thousands.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/store/open-store.js';
import { abandonStore, type Store } from '../src/store/store.js';

const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024 } as const;
const SIZES = [4096, 4096, 4000, 8190, 100, 4096, 9000, 4093];
/** File-system calls past the crash after which the guard stops answering. */
const CALLS_AFTER_CRASH_MAX = 5000;

function valueOf(index: number): Uint8Array {
  const bytes = new Uint8Array(SIZES[index % SIZES.length]!);
  for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = (offset * 13 + index * 29) & 0xff;
  return bytes;
}

/** `inner`, whose calls (and its handles' calls) never settle once it has counted `limit` operations. */
function guarded(inner: FaultFileSystem, limit: () => number): FileSystem {
  const never = new Promise<never>(() => undefined);
  const wrap = <T extends object>(target: T): T => new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (inner.operationCount > limit()) return never;
        const result = (value as (...parameters: unknown[]) => unknown).apply(object, args);
        if (property === 'open' && result instanceof Promise) return result.then((handle: object) => wrap(handle));
        return result;
      };
    },
  });
  return wrap(inner) as unknown as FileSystem;
}

interface Outcome {
  settled: number;
  attempted: number;
  callsAfterCrash: number;
}

async function workload(crashAfter: number, seed: number): Promise<Outcome> {
  const fault = new FaultFileSystem(seed);
  fault.crashAfterOperations(crashAfter);
  const fileSystem = guarded(fault, () => crashAfter + CALLS_AFTER_CRASH_MAX);
  const outcome: Outcome = { settled: 0, attempted: 0, callsAfterCrash: 0 };
  let store: Store | undefined;
  try {
    store = await openStore('/db', { ...OPTIONS, fileSystem });
    for (let first = 0; first < 72; first += 8) {
      const group: Array<Promise<unknown>> = [];
      for (let index = first; index < first + 8; index++) {
        outcome.attempted++;
        group.push(store.put(`key-${String(index).padStart(4, '0')}`, valueOf(index)).finally(() => void outcome.settled++));
      }
      // Bounded wait: with the guard stopped, a put of the old loop never settles.
      const settled = await Promise.race([Promise.allSettled(group), new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 3000))]);
      if (settled === 'stuck') throw new Error('a put did not settle');
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    // Closed only while the file system answers (past the guard's limit close() would wait for ever).
    if (fault.operationCount <= crashAfter + CALLS_AFTER_CRASH_MAX) await store.close();
    else store[abandonStore]();
  } catch {
    store?.[abandonStore]();
  }
  outcome.callsAfterCrash = fault.operationCount - crashAfter;
  return outcome;
}

describe('a writer let through a write stall after a crash', () => {
  it('starts no compaction loop: every put settles, a crash costs a bounded number of failed calls', async () => {
    // The crash point review3-large-value-crash found, and the operations around it.
    for (const [crashAfter, seed] of [[252, 1], [250, 1], [254, 1], [252, 2], [252, 3]] as const) {
      const outcome = await workload(crashAfter, seed);
      expect(outcome.callsAfterCrash, `crash after ${crashAfter}, seed ${seed}`).toBeLessThan(1000);
      expect(outcome.settled, `crash after ${crashAfter}, seed ${seed}`).toBe(outcome.attempted);
    }
  }, 60_000);
});
