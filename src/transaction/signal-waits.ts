/**
 * A transaction signal's one 'abort' listener (store.transaction({ signal })): what it
 * ends when the signal aborts, with nothing registered on the signal per attempt.
 *
 * A listener per attempt made Node warn of a leak at 11 transactions sharing a signal,
 * a stuck body ended by close or its lifetime kept its listener, and adding and removing
 * it cost about a third of the throughput of transactions given a signal. So a signal
 * gets one listener, added at its first use, and this module keeps what it reaches:
 * - owners (a store's running attempts: run-transaction.ts), each told once on abort
 *   through a function given with it (no closure per attempt);
 * - waits before a commit is submitted (untilAborted): for the winner of a conflict to be
 *   visible and the backoff after it, or for admission past the write stall. Each rejects
 *   with the signal's reason at once on abort; a wait that ended leaves the set.
 *
 * Invariants: at most one listener per signal, removed by its own firing (`once`); after
 * the abort the signal's entry is gone (a later use of the aborted signal is refused by
 * the caller's throwIfAborted, or by untilAborted itself).
 */

/** What a signal's listener reaches (watchedSignals). */
interface SignalWatch {
  /** Each owner with the function that ends what it runs under the signal. */
  owners: Map<object, (owner: never, signal: AbortSignal) => void>;
  /** The waits under the signal (untilAborted): each rejects with the reason. */
  waits: Set<() => void>;
}

const watchedSignals = new WeakMap<AbortSignal, SignalWatch>();

function signalWatch(signal: AbortSignal): SignalWatch {
  let watched = watchedSignals.get(signal);
  if (watched === undefined) {
    const created: SignalWatch = { owners: new Map(), waits: new Set() };
    watchedSignals.set(signal, created);
    signal.addEventListener('abort', () => {
      watchedSignals.delete(signal);
      for (const [owner, onAbort] of created.owners) onAbort(owner as never, signal);
      for (const wait of created.waits) wait();
    }, { once: true });
    watched = created;
  }
  return watched;
}

/** `onAbort(owner, signal)` runs once when `signal` aborts (registered once per owner and signal; a module-level function: no closure per call). */
export function watchSignal<O extends object>(signal: AbortSignal, owner: O, onAbort: (owner: O, signal: AbortSignal) => void): void {
  const owners = signalWatch(signal).owners;
  if (!owners.has(owner)) owners.set(owner, onAbort as (owner: never, signal: AbortSignal) => void);
}

/**
 * Resolves once `settled` resolves and then `delayMs` more (none when undefined), or
 * rejects with the signal's reason as soon as it aborts, in either part (at once when it
 * has). A rejection of `settled` rejects it too.
 */
export function untilAborted(signal: AbortSignal, settled: Promise<void>, delayMs?: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const waits = signalWatch(signal).waits;
    let timer: NodeJS.Timeout | undefined;
    const aborted = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    waits.add(aborted);
    const waited = (): void => {
      waits.delete(aborted);
      resolve();
    };
    settled.then(() => {
      if (signal.aborted) return; // rejected by `aborted` already
      if (delayMs === undefined) waited();
      else timer = setTimeout(waited, delayMs);
    }, (error: unknown) => {
      waits.delete(aborted);
      reject(error);
    });
  });
}
