/**
 * Watches of model-watch-lease-random.test.ts, held across steps and checked against the
 * model: each delivers exactly the model's changes after its sinceVersion (in its range,
 * lease records only with includeReserved), in (version, key) order, each once, up to its
 * untilVersion; a VersionNotRetainedError only where the model allows one (model.ts,
 * catchUpRule) and always below the floor; WatchOverflowError exactly when more than
 * WATCH_BUFFER_CHANGES_MAX changes are buffered, naming the version to resume from (the
 * last delivered, or the one before when that commit was cut); StoreClosedError once
 * the store closed or was abandoned (after the rest of a live commit delivered in part);
 * the signal's reason once it was aborted; nothing
 * more after an error or the end.
 *
 * The model counts each started feed's buffer as the hub does: every accepted change of
 * a commit after the feed's start version, up to its untilVersion, is buffered when it
 * becomes visible, and each delivered change above the start version leaves the buffer. A feed asked for its next
 * change when none is due ("probe") must not answer; that pending step is then the one
 * that takes the next commit's first change, as soon as that commit is visible.
 */
import { expect } from 'vitest';
import { WATCH_BUFFER_CHANGES_MAX } from '../src/limits.js';
import type { Change } from '../src/index.js';
import { byBytes, type Commit, count, expectChange, type Model, type ModelChange, RESERVED } from './model-watch-lease-model.js';

type Outcome = { change: { version: number; change: ModelChange } } | { done: true } | { error: 'overflow'; resume: number } | { error: 'closed' } | { error: 'aborted' };

export interface WatchState {
  id: number;
  feed: AsyncGenerator<Change, void, undefined>;
  since: number;
  until: number | undefined;
  gte: string | undefined;
  lt: string | undefined;
  includeReserved: boolean;
  started: boolean;
  startVersion: number;
  rule: 'must' | 'may' | 'never';
  /** The next commit index and change index to look for an expected change from. */
  cursor: { commit: number; change: number };
  lastDelivered: number;
  liveDelivered: boolean;
  buffered: number;
  overflowResume: number | undefined;
  closed: boolean;
  /** Its signal's controller, when it was given one; aborted once abort() ran. */
  controller: AbortController | undefined;
  aborted: boolean;
  pending: Promise<IteratorResult<Change, void>> | undefined;
  /** What the pending step must answer, once a commit decided it. */
  pendingOutcome: Outcome | undefined;
  dead: boolean;
}

export function accepts(watch: WatchState, key: string): boolean {
  return (watch.gte === undefined || byBytes(key, watch.gte) >= 0) && (watch.lt === undefined || byBytes(key, watch.lt) < 0)
    && (watch.includeReserved || !key.startsWith(RESERVED));
}

/** The next change `watch` must deliver (advancing its cursor when `take`), or undefined. */
function nextExpected(model: Model, watch: WatchState, take: boolean): { version: number; change: ModelChange } | undefined {
  let { commit, change } = watch.cursor;
  for (; commit < model.commits.length; commit++, change = 0) {
    const entry = model.commits[commit]!;
    if (watch.until !== undefined && entry.version > watch.until) break;
    for (; change < entry.changes.length; change++) {
      if (!accepts(watch, entry.changes[change]!.key)) continue;
      // The changes skipped are none of the feed's: the cursor passes them either way.
      watch.cursor = { commit, change: take ? change + 1 : change };
      return { version: entry.version, change: entry.changes[change]! };
    }
  }
  watch.cursor = { commit, change };
  return undefined;
}

/** The version a feed cut now must name: the last delivered, or the one before when that commit still has changes due. */
function resumeVersion(model: Model, watch: WatchState): number {
  return nextExpected(model, watch, false)?.version === watch.lastDelivered ? watch.lastDelivered - 1 : watch.lastDelivered;
}

export class Watches {
  readonly open: WatchState[] = [];
  /** The store was abandoned (a crash), not closed. */
  abandoned = false;
  #ids = 0;

  constructor(readonly model: Model, readonly log: string[]) {
    model.onCommit = (commit) => this.#offer(commit);
  }

  add(feed: AsyncGenerator<Change, void, undefined>, options: { since: number; until?: number; gte?: string; lt?: string; includeReserved: boolean; controller?: AbortController }): WatchState {
    const watch: WatchState = {
      id: this.#ids++, feed, since: options.since, until: options.until, gte: options.gte, lt: options.lt, includeReserved: options.includeReserved,
      started: false, startVersion: 0, rule: 'never', cursor: { commit: options.since, change: 0 }, lastDelivered: options.since, liveDelivered: false,
      buffered: 0, overflowResume: undefined, closed: false, controller: options.controller, aborted: false, pending: undefined, pendingOutcome: undefined, dead: false,
    };
    this.open.push(watch);
    return watch;
  }

  /** The hub's offer of a visible commit, as the model counts it. */
  #offer(commit: Commit): void {
    for (const watch of this.open) {
      if (!watch.started || watch.dead || watch.closed || watch.aborted || watch.overflowResume !== undefined) continue;
      if (watch.until !== undefined && commit.version > watch.until) {
        // Never buffered: the feed ends before it (a waiting one ends now).
        if (watch.pending !== undefined && watch.pendingOutcome === undefined) watch.pendingOutcome = { done: true };
        continue;
      }
      const accepted = commit.changes.filter((change) => accepts(watch, change.key)).length;
      watch.buffered += accepted;
      if (watch.buffered > WATCH_BUFFER_CHANGES_MAX) {
        watch.overflowResume = resumeVersion(this.model, watch);
        watch.buffered = 0;
        count('watch overflow');
        this.log.push(`  watch ${watch.id} overflows at v${commit.version}, resume ${watch.overflowResume}`);
        if (watch.pending !== undefined && watch.pendingOutcome === undefined) watch.pendingOutcome = { error: 'overflow', resume: watch.overflowResume };
        continue;
      }
      if (watch.pending === undefined || watch.pendingOutcome !== undefined) continue;
      // The step waiting takes this commit's first change at once.
      if (accepted > 0) {
        const next = nextExpected(this.model, watch, true);
        watch.pendingOutcome = next === undefined ? { done: true } : { change: next };
        if (next !== undefined) this.#delivered(watch, next.version);
      } else if (watch.until !== undefined && commit.version >= watch.until) {
        // Nothing at or below untilVersion can come any more: the feed ends.
        watch.pendingOutcome = { done: true };
      }
    }
  }

  /**
   * compact({ retainFrom }) raised the floor: a feed still catching up (its next change is
   * at or below its start version) whose position (resumeVersion) is now below it must fail
   * at its next step, as a watch from that position would (change-feed.ts).
   */
  floorRaised(floor: number): void {
    for (const watch of this.open) {
      if (!watch.started || watch.dead || watch.closed || watch.aborted || watch.overflowResume !== undefined || watch.pending !== undefined) continue;
      const next = nextExpected(this.model, watch, false);
      if (next === undefined || next.version > watch.startVersion || resumeVersion(this.model, watch) >= floor) continue;
      watch.rule = 'must';
      count('catch-up passed by the floor');
      this.log.push(`  watch ${watch.id}: the floor ${floor} passed its catch-up at v${watch.lastDelivered}`);
    }
  }

  #delivered(watch: WatchState, version: number): void {
    watch.lastDelivered = version;
    if (version > watch.startVersion) {
      watch.buffered--;
      watch.liveDelivered = true;
    }
  }

  #start(watch: WatchState): void {
    if (watch.started) return;
    watch.started = true;
    watch.startVersion = this.model.version;
    const upTo = Math.min(this.model.version, watch.until ?? Infinity);
    watch.rule = this.model.catchUpRule(watch.since, upTo, (key) => accepts(watch, key));
    if (watch.since < watch.startVersion) count('catch-up started');
    this.log.push(`  watch ${watch.id} starts at v${watch.startVersion}, catch-up rule ${watch.rule}`);
  }

  /** What the feed's next step must do now (undefined: nothing is due, it would wait). */
  #due(watch: WatchState): Outcome | undefined {
    // A started feed checks its signal first; one not started yet, the store.
    if (watch.aborted && (watch.started || !watch.closed)) return { error: 'aborted' };
    if (watch.closed) {
      // A live commit delivered in part when the store closed: the rest of it first (buffered whole).
      const next = watch.overflowResume === undefined ? nextExpected(this.model, watch, false) : undefined;
      if (next !== undefined && next.version === watch.lastDelivered && next.version > watch.startVersion) return { change: next };
      return { error: 'closed' };
    }
    if (watch.overflowResume !== undefined) return { error: 'overflow', resume: watch.overflowResume };
    const next = nextExpected(this.model, watch, false);
    if (next !== undefined) return { change: next };
    if (watch.until !== undefined && this.model.version >= watch.until) return { done: true };
    return undefined;
  }

  /** True when the feed's next step would not wait (a feed not started yet starts at that step: below the floor, it fails). */
  due(watch: WatchState): boolean {
    if (watch.dead) return false;
    if (watch.pending !== undefined) return watch.pendingOutcome !== undefined;
    if (!watch.started && !watch.closed && watch.since < this.model.version && watch.since < this.model.floor) return true;
    return this.#due(watch) !== undefined;
  }

  /** Takes the feed's next step and checks it; the feed must not wait (due()). */
  async pull(watch: WatchState, label: string): Promise<void> {
    const where = (): string => `${label}: watch ${watch.id} (since ${watch.since}, until ${watch.until}, [${JSON.stringify(watch.gte)}, ${JSON.stringify(watch.lt)}), reserved ${watch.includeReserved}, start ${watch.startVersion}, rule ${watch.rule})`;
    let expected: Outcome;
    let step: Promise<IteratorResult<Change, void>>;
    const wasPending = watch.pending !== undefined;
    if (watch.pending !== undefined) {
      expected = watch.pendingOutcome!;
      step = watch.pending;
      watch.pending = undefined;
      watch.pendingOutcome = undefined;
    } else {
      this.#start(watch);
      // Undefined only for a feed that must fail its catch-up (below the floor): checked below.
      expected = this.#due(watch) ?? { done: true };
      step = watch.feed.next();
      if ('change' in expected) nextExpected(this.model, watch, true);
    }
    let result: IteratorResult<Change, void> | undefined;
    let error: unknown;
    try {
      result = await withTimeout(step, () => `${where()}: its next step did not settle (expected ${brief(expected)})`);
    } catch (caught) {
      error = caught;
    }
    const code = (error as { code?: string } | undefined)?.code;
    if (code === 'LADYBUG_VERSION_NOT_RETAINED' && !watch.liveDelivered && watch.rule !== 'never' && !('error' in expected && (expected.error === 'closed' || (expected.error === 'aborted' && watch.closed)))) {
      count(`catch-up VersionNotRetainedError (${watch.rule})`);
      this.log.push(`  watch ${watch.id}: VersionNotRetainedError (${watch.rule})`);
      watch.dead = true;
      return;
    }
    if (watch.rule === 'must' && !watch.closed && !watch.aborted) throw new Error(`${where()}: a catch-up from below the floor ${this.model.floor} must fail, got ${error === undefined ? brief(result) : String(error)}`);
    if ('change' in expected) {
      if (error !== undefined) throw new Error(`${where()}: expected v${expected.change.version} ${JSON.stringify(expected.change.change.key)}, got ${String(error)}`, { cause: error });
      if (result!.done === true) throw new Error(`${where()}: ended early, expected v${expected.change.version}`);
      expectChange(result!.value as Change, expected.change.version, expected.change.change, where);
      count(expected.change.version > watch.startVersion ? 'change delivered live' : 'change delivered in catch-up');
      if (!wasPending) this.#delivered(watch, expected.change.version);
      return;
    }
    watch.dead = true;
    count(`feed ended: ${'done' in expected ? 'done' : expected.error}`);
    if ('done' in expected) {
      expect(error, `${where()}: expected the end`).toBeUndefined();
      expect(result!.done, `${where()}: expected the end, got ${brief(result!.value)}`).toBe(true);
      return;
    }
    // A started feed that delivered everything up to its untilVersion may end rather than fail.
    const ended = watch.started && watch.until !== undefined && this.model.version >= watch.until && nextExpected(this.model, watch, false) === undefined;
    if (expected.error === 'closed' && ended && result?.done === true) return;
    expect(error, `${where()}: expected ${expected.error}, got ${brief(result)}`).toBeDefined();
    if (expected.error === 'aborted') {
      // Aborted and closed: the order of the two checks is the feed's own.
      if (watch.closed && code === 'LADYBUG_STORE_CLOSED') return;
      expect(error, `${where()}: an aborted feed's next step rejects with the signal's reason`).toBe(watch.controller!.signal.reason);
      return;
    }
    if (expected.error === 'closed') {
      // An abandoned store (the crash of a test) may fail a catch-up's read of its closed files instead.
      expect(code === 'LADYBUG_STORE_CLOSED' || (this.abandoned && code === 'LADYBUG_IO'), `${where()}: ${String(error)}`).toBe(true);
      return;
    }
    expect(code, `${where()}: ${String(error)}`).toBe('LADYBUG_WATCH_OVERFLOW');
    expect((error as { lastDeliveredVersion: number }).lastDeliveredVersion, `${where()}: the overflow's resume version`).toBe(expected.resume);
  }

  /** Asks the feed for a change when none is due: it must wait (the step stays pending). */
  async probe(watch: WatchState, label: string): Promise<void> {
    if (watch.dead || watch.pending !== undefined || this.due(watch)) return;
    this.#start(watch);
    const step = watch.feed.next();
    step.catch(() => undefined);
    const settled = await Promise.race([step.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20))]);
    if (!settled) {
      count('probe left pending');
      watch.pending = step;
      return;
    }
    const outcome = await step.then((result) => brief(result), (error: unknown) => error);
    if ((outcome as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED' && watch.rule !== 'never' && !watch.liveDelivered) {
      watch.dead = true;
      return;
    }
    throw new Error(`${label}: watch ${watch.id} (since ${watch.since}, until ${watch.until}, start ${watch.startVersion}) answered with nothing due: ${String(outcome)}`);
  }

  /** The store closed or was abandoned: every feed's next step (a pending one too) rejects with StoreClosedError. */
  async storeClosed(label: string, abandoned: boolean): Promise<void> {
    this.abandoned = abandoned;
    for (const watch of this.open) {
      if (watch.dead) continue;
      watch.closed = true;
      // A pending step that a commit already answered delivers that change; the next step then fails.
      if (watch.pending !== undefined && watch.pendingOutcome !== undefined) await this.pull(watch, `${label} (store closed)`);
      if (watch.dead) continue;
      if (watch.pending !== undefined) watch.pendingOutcome = { error: 'closed' };
      // The rest of a live commit delivered in part, then StoreClosedError.
      while (watch.pending === undefined && !watch.dead && 'change' in (this.#due(watch) ?? {})) await this.pull(watch, `${label} (store closed, the rest of a commit)`);
      if (watch.dead) continue;
      await this.pull(watch, `${label} (store closed)`);
    }
    this.open.length = 0;
  }

  /** Aborts the feed's signal: its next step (a pending one at once) rejects with the reason, nothing more delivered. */
  abort(watch: WatchState): void {
    if (watch.controller === undefined || watch.aborted) return;
    watch.controller.abort();
    watch.aborted = true;
    if (watch.pending !== undefined && watch.pendingOutcome === undefined) watch.pendingOutcome = { error: 'aborted' };
  }

  /** Breaks out of a feed (return()): it ends. */
  async end(watch: WatchState): Promise<void> {
    if (watch.pending !== undefined) return;
    await watch.feed.return(undefined);
    watch.dead = true;
  }

  prune(): void {
    for (let index = this.open.length - 1; index >= 0; index--) if (this.open[index]!.dead) this.open.splice(index, 1);
  }
}

export function brief(item: unknown): string {
  return JSON.stringify(item, (_, value: unknown) => (typeof value === 'string' && value.length > 40 ? `${value.slice(0, 8)}..(${value.length})` : value instanceof Uint8Array ? `bytes(${value.length})` : typeof value === 'bigint' ? `${value}n` : value)) ?? String(item);
}

async function withTimeout<T>(promise: Promise<T>, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message())), 5000); })]);
  } finally {
    clearTimeout(timer);
  }
}
