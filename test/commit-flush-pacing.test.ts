/**
 * The main thread's packing of a flush for the flush thread yields the event loop in
 * short stretches (src/engine/flush-thread.ts, PackingPace; issue 12's p99): every
 * commit in flight waits for a whole stretch, and stretches of FLUSH_PACK_YIELD_ENTRIES
 * (2.9-7.7 ms, busy machine) were a measured share of the 64-writer p99.
 *
 * No timing: the pacing reads a fake clock that moves only when read (a fixed step
 * per read), so every stretch's length in entries is determined; a setImmediate
 * ticker counts the loop's turns while the flush packs.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { internalKey } from '../src/codec/keys.js';
import { prepareValue } from '../src/codec/values.js';
import {
  FLUSH_PACK_CLOCK_CHECK_ENTRIES,
  FLUSH_PACK_STRETCH_MS_MIN,
  FLUSH_PACK_YIELD_ENTRIES,
  FlushThread,
  flushThreadsRunning,
  flushWorkerBuilt,
  PackingPace,
} from '../src/engine/flush-thread.js';
import { memtableEntries } from '../src/engine/flusher.js';
import { type IndexOperation, MemoryIndex } from '../src/memory/memory-index.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(() => {
  removeTemporaryDirectories();
});

/** A clock that advances `stepMs` at every read. */
function steppingClock(stepMs: number): { now: () => number; reads: () => number } {
  let nowMs = 1_000;
  let reads = 0;
  return {
    now: () => {
      reads++;
      nowMs += stepMs;
      return nowMs;
    },
    reads: () => reads,
  };
}

/** Entries packed before `packed()` first says the stretch is over (at most FLUSH_PACK_YIELD_ENTRIES). */
function stretchLength(pace: PackingPace): number {
  for (let entries = 1; entries <= FLUSH_PACK_YIELD_ENTRIES; entries++) if (pace.packed()) return entries;
  throw new Error('the stretch never ended');
}

describe('PackingPace', () => {
  it('a stretch ends at the first clock read past its budget, and never later than FLUSH_PACK_YIELD_ENTRIES', () => {
    // A stopped clock: only the entry bound ends a stretch.
    const stopped = 0;
    const still = new PackingPace(() => stopped);
    expect(stretchLength(still)).toBe(FLUSH_PACK_YIELD_ENTRIES);
    still.paused();
    still.resumed(true);
    expect(stretchLength(still)).toBe(FLUSH_PACK_YIELD_ENTRIES);

    // Each read advances the minimum stretch: the first read (after FLUSH_PACK_CLOCK_CHECK_ENTRIES) ends it.
    const clock = steppingClock(FLUSH_PACK_STRETCH_MS_MIN);
    const pace = new PackingPace(clock.now);
    expect(stretchLength(pace)).toBe(FLUSH_PACK_CLOCK_CHECK_ENTRIES);
    // A quarter of the minimum per read: the fourth read reaches it.
    const slower = new PackingPace(steppingClock(FLUSH_PACK_STRETCH_MS_MIN / 4).now);
    expect(stretchLength(slower)).toBe(4 * FLUSH_PACK_CLOCK_CHECK_ENTRIES);
  });

  it("a stretch after a yield lasts as long as the loop's recent turns away (at least the minimum); after a wait for the thread, the minimum", () => {
    let nowMs = 0;
    const pace = new PackingPace(() => nowMs);
    const tick = FLUSH_PACK_STRETCH_MS_MIN / 8;
    /** Entries of the next stretch when every clock read of it advances `tick`. */
    const next = (): number => {
      for (let entries = 1; entries <= FLUSH_PACK_YIELD_ENTRIES; entries++) {
        if (entries % FLUSH_PACK_CLOCK_CHECK_ENTRIES === 0) nowMs += tick;
        if (pace.packed()) return entries;
      }
      throw new Error('the stretch never ended');
    };
    expect(next()).toBe(8 * FLUSH_PACK_CLOCK_CHECK_ENTRIES);
    // The loop was away for 1.5 minimum stretches: the next stretch may run as long.
    pace.paused();
    nowMs += 1.5 * FLUSH_PACK_STRETCH_MS_MIN;
    pace.resumed(true);
    expect(next()).toBe(12 * FLUSH_PACK_CLOCK_CHECK_ENTRIES);
    // Away for long turns: once they are most of the recent ones (the lower median of
    // the last five, flush-packing-pace.ts), the entry bound ends the stretch; a single
    // long turn among short ones does not lengthen it (test/commit-tail-packing.test.ts).
    for (let turn = 0; turn < 3; turn++) {
      pace.paused();
      nowMs += 1_000 * FLUSH_PACK_STRETCH_MS_MIN;
      pace.resumed(true);
    }
    expect(next()).toBe(FLUSH_PACK_YIELD_ENTRIES);
    // A long wait for the thread gives no longer budget than the minimum.
    pace.paused();
    nowMs += 1_000 * FLUSH_PACK_STRETCH_MS_MIN;
    pace.resumed(false);
    expect(next()).toBe(8 * FLUSH_PACK_CLOCK_CHECK_ENTRIES);
  });
});

describe('FlushThread packing', () => {
  /** A memtable of `count` small entries: a few chunks, so the thread never holds the packing back. */
  function smallMemtable(count: number): MemoryIndex {
    const index = new MemoryIndex(1);
    const operations: IndexOperation[] = [];
    for (let number = 0; number < count; number++) {
      operations.push({ key: internalKey(`k${String(number).padStart(7, '0')}`), slot: prepareValue(number, 1 << 20).stored });
    }
    index.apply(1, operations, 0);
    return index;
  }

  it('packs no more entries in one turn of the event loop than its stretch allows, and writes every entry', async () => {
    const count = 3 * FLUSH_PACK_YIELD_ENTRIES + 100;
    const index = smallMemtable(count);
    // Every read of the pacing clock advances half the minimum stretch: a stretch is two reads.
    const clock = steppingClock(FLUSH_PACK_STRETCH_MS_MIN / 2);
    const thread = new FlushThread(clock.now);
    let turn = 0;
    let flushing = true;
    const ticker = (): void => {
      turn++;
      if (flushing) setImmediate(ticker);
    };
    setImmediate(ticker);
    const inner = memtableEntries(index);
    let turnOfLast = -1;
    let inThisTurn = 0;
    let mostInOneTurn = 0;
    let read = 0;
    const counted: Iterator<RunEntry> = {
      next: () => {
        const result = inner.next();
        if (result.done === true) return result;
        read++;
        if (turn !== turnOfLast) {
          turnOfLast = turn;
          inThisTurn = 0;
        }
        inThisTurn++;
        mostInOneTurn = Math.max(mostInOneTurn, inThisTurn);
        return result;
      },
    };
    try {
      const outcome = await thread.flush({ runsDirectory: temporaryDirectory(), runId: 1, generation: 1, level: 0, keepDataBytes: -1 }, counted);
      expect(outcome.descriptor.entryCount).toBe(count);
    } finally {
      flushing = false;
      await thread.close();
    }
    expect(read).toBe(count);
    // Two clock reads per stretch (plus the entry the chunk boundary may re-read): far below a whole FLUSH_PACK_YIELD_ENTRIES.
    expect(mostInOneTurn).toBeLessThanOrEqual(2 * FLUSH_PACK_CLOCK_CHECK_ENTRIES + 1);
    expect(clock.reads()).toBeGreaterThan(count / (2 * FLUSH_PACK_CLOCK_CHECK_ENTRIES));
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);
});
