/**
 * Issue 12, the 64-writer p99: one long turn of the event loop (a group whose
 * fdatasync ran inline and slow, or a scavenge) must not give the flush's next packing
 * stretch that long a budget, or the group after the slow one waits for the packing
 * too (src/engine/flush-packing-pace.ts: the budget is the lower median of the recent
 * turns away). A run of long turns (large batches) still earns long stretches.
 *
 * No timing: the pacing reads a clock that moves only when the test moves it.
 */
import { describe, expect, it } from 'vitest';
import {
  FLUSH_PACK_CLOCK_CHECK_ENTRIES,
  FLUSH_PACK_STRETCH_MS_MIN,
  FLUSH_PACK_TURNS_KEPT,
  FLUSH_PACK_YIELD_ENTRIES,
  PackingPace,
} from '../src/engine/flush-packing-pace.js';

/** A pace over a hand-moved clock, and the length in entries of its next stretch when each clock read advances `tickMs`. */
function handClock(): { pace: PackingPace; away: (turnMs: number) => void; waitForThread: (waitMs: number) => void; nextStretch: (tickMs: number) => number } {
  let nowMs = 0;
  const pace = new PackingPace(() => nowMs);
  return {
    pace,
    away: (turnMs) => {
      pace.paused();
      nowMs += turnMs;
      pace.resumed(true);
    },
    waitForThread: (waitMs) => {
      pace.paused();
      nowMs += waitMs;
      pace.resumed(false);
    },
    nextStretch: (tickMs) => {
      for (let entries = 1; entries <= FLUSH_PACK_YIELD_ENTRIES; entries++) {
        if (entries % FLUSH_PACK_CLOCK_CHECK_ENTRIES === 0) nowMs += tickMs;
        if (pace.packed()) return entries;
      }
      throw new Error('the stretch never ended');
    },
  };
}

describe('flush packing after one long turn of the loop', () => {
  const tick = FLUSH_PACK_STRETCH_MS_MIN / 4;
  const shortTurn = 2 * FLUSH_PACK_STRETCH_MS_MIN;
  /** Entries of a stretch whose budget is `budgetMs` when each read advances `tick` (all below FLUSH_PACK_YIELD_ENTRIES here). */
  const entriesFor = (budgetMs: number): number => Math.ceil(budgetMs / tick) * FLUSH_PACK_CLOCK_CHECK_ENTRIES;

  it('keeps the stretch as short as the usual turns when one turn among them was long', () => {
    const clock = handClock();
    for (let turn = 0; turn < FLUSH_PACK_TURNS_KEPT; turn++) {
      clock.away(shortTurn);
      expect(clock.nextStretch(tick)).toBe(entriesFor(shortTurn));
    }
    // A slow inline fdatasync or a scavenge: the loop was away 500 minimum stretches.
    clock.away(500 * FLUSH_PACK_STRETCH_MS_MIN);
    const afterSlow = clock.nextStretch(tick);
    expect(afterSlow).toBe(entriesFor(shortTurn));
    expect(afterSlow).toBeLessThan(FLUSH_PACK_YIELD_ENTRIES);
    // The next turns are short again: so is every stretch.
    clock.away(shortTurn);
    expect(clock.nextStretch(tick)).toBe(entriesFor(shortTurn));
  });

  it('gives long stretches once long turns are most of the recent ones (large batches keep their share)', () => {
    const clock = handClock();
    const longTurn = 3 * FLUSH_PACK_STRETCH_MS_MIN;
    for (let turn = 0; turn < FLUSH_PACK_TURNS_KEPT; turn++) clock.away(shortTurn);
    const lengths: number[] = [];
    for (let turn = 0; turn < FLUSH_PACK_TURNS_KEPT; turn++) {
      clock.away(longTurn);
      lengths.push(clock.nextStretch(tick));
    }
    const needed = (FLUSH_PACK_TURNS_KEPT + 1) / 2;
    expect(lengths.slice(0, needed - 1).every((entries) => entries === entriesFor(shortTurn))).toBe(true);
    expect(lengths.slice(needed - 1).every((entries) => entries === entriesFor(longTurn))).toBe(true);
    // The entry bound still ends a stretch whose budget the turns made long.
    for (let turn = 0; turn < FLUSH_PACK_TURNS_KEPT; turn++) clock.away(1_000 * FLUSH_PACK_STRETCH_MS_MIN);
    expect(clock.nextStretch(tick)).toBe(FLUSH_PACK_YIELD_ENTRIES);
  });

  it('a wait for the thread gives the minimum and leaves the kept turns as they were', () => {
    const clock = handClock();
    for (let turn = 0; turn < FLUSH_PACK_TURNS_KEPT; turn++) clock.away(shortTurn);
    clock.waitForThread(1_000 * FLUSH_PACK_STRETCH_MS_MIN);
    expect(clock.nextStretch(tick)).toBe(entriesFor(FLUSH_PACK_STRETCH_MS_MIN));
    clock.away(shortTurn);
    expect(clock.nextStretch(tick)).toBe(entriesFor(shortTurn));
  });
});
