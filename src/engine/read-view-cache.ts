/**
 * The engine's current read view, shared (StorageEngine#view): a view is immutable, so
 * one serves every reader until the sources change (a seal, an install; read-view.ts),
 * and a hot get allocates nothing. The cached view is made again when the active
 * memtable, the live runs (RunSet#runs, a new array at each change), the count of
 * sealed memtables waiting or the count of seals differs from when it was made.
 *
 * Invariant: clear() after a flush's install drops the cached view, so it does not keep
 * the retired memtable reachable until the next read (a write-only load never reads;
 * issue 7, load RSS); clear() after each compaction ends drops it too, so it does not
 * keep the runs the compaction replaced acquired (their readers open, their unlinked
 * files' space held) while the store is not read. Readers holding the view keep it
 * for as long as they read.
 */
import type { Memtables } from './memtables.js';
import type { ReadView } from './read-view.js';
import type { RunSet } from './run-set.js';

export class ReadViewCache {
  readonly #memtables: Memtables;
  readonly #runSet: RunSet;
  readonly #make: () => ReadView;
  #view: ReadView | undefined;
  #viewRuns: readonly unknown[] | undefined;
  #viewImmutables = 0;
  #viewSeals = 0;

  /** `make` builds a view of the sources now (StorageEngine's ReadView over its memtables and runs). */
  constructor(memtables: Memtables, runSet: RunSet, make: () => ReadView) {
    this.#memtables = memtables;
    this.#runSet = runSet;
    this.#make = make;
  }

  /** The view of the sources now: the cached one while they are the same, else a new one (then cached). */
  current(): ReadView {
    const memtables = this.#memtables;
    const cached = this.#view;
    if (cached !== undefined && cached.memtables[0] === memtables.active && this.#viewRuns === this.#runSet.runs
      && this.#viewImmutables === memtables.immutableCount && this.#viewSeals === memtables.sealedCount) {
      return cached;
    }
    const view = this.#make();
    this.#view = view;
    this.#viewRuns = this.#runSet.runs;
    this.#viewImmutables = memtables.immutableCount;
    this.#viewSeals = memtables.sealedCount;
    return view;
  }

  /** Drops the cached view (a flush installed its run and retired its memtable). */
  clear(): void {
    this.#view = undefined;
  }
}
