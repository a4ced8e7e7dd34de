/**
 * The in-memory model of model-review-random.test.ts: every committed version of every
 * key, the store-wide retention floor (compact({ retainFrom })) and maxVersionsPerKey.
 *
 * Keys are held as the hex of their bytes (the store orders keys by their bytes). What
 * the model cannot know (whether compaction already reclaimed a version past
 * maxVersionsPerKey) it answers as 'either': the read must give the exact value or
 * VersionNotRetainedError, never another value. What the README promises is 'exact'
 * (the newest maxVersionsPerKey versions of a key, every read of a snapshot, every
 * read at the current version) or 'error' (an as-of read below the floor).
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';

export interface Change {
  version: number;
  value?: unknown;
  deleted: boolean;
}

export type Operation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };
export type Rule = 'exact' | 'either' | 'error';

export interface Bounds {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

export const hexOf = (key: string | Uint8Array): string => (typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key)).toString('hex');
export const byHex = (left: string, right: string): number => Buffer.compare(Buffer.from(left, 'hex'), Buffer.from(right, 'hex'));

export class Model {
  version = 0;
  floor = 0;
  readonly changes = new Map<string, Change[]>();

  constructor(readonly maxVersionsPerKey: number) {}

  /** Applies one commit at `version` (the store's answer; must be the next one). */
  commit(version: number, operations: readonly Operation[]): void {
    expect(version, 'commit version').toBe(this.version + 1);
    const last = new Map<string, Operation>();
    for (const operation of operations) {
      last.delete(operation.key);
      last.set(operation.key, operation);
    }
    for (const operation of last.values()) {
      const list = this.changes.get(operation.key) ?? [];
      list.push(operation.type === 'put' ? { version, value: operation.value, deleted: false } : { version, deleted: true });
      this.changes.set(operation.key, list);
    }
    this.version = version;
  }

  /** The change of `key` visible at `version`, with its index, or undefined. */
  visible(key: string, version: number): { index: number; change: Change } | undefined {
    const list = this.changes.get(key) ?? [];
    for (let index = list.length - 1; index >= 0; index--) {
      if (list[index]!.version <= version) return { index, change: list[index]! };
    }
    return undefined;
  }

  valueAt(key: string, version: number): unknown {
    const found = this.visible(key, version);
    return found === undefined || found.change.deleted ? undefined : found.change.value;
  }

  /**
   * What an as-of read of `key` at `version` must do, retention counted from
   * `reference` (the current version for the store, the snapshot's for a snapshot).
   */
  rule(key: string, version: number, reference = this.version, pinned = false): Rule {
    if (version < this.floor && !pinned) return 'error';
    if (version === reference) return 'exact';
    const list = (this.changes.get(key) ?? []).filter((change) => change.version <= reference);
    if (list.length <= this.maxVersionsPerKey) return 'exact';
    const found = this.visible(key, version);
    if (found === undefined) return 'either';
    return list.length - found.index <= this.maxVersionsPerKey ? 'exact' : 'either';
  }

  /**
   * Checks a history answer: newest first, the model's retained ones at least (the newest
   * maxVersionsPerKey, cut at the floor), and older ones only as a contiguous tail of the
   * key's true history (versions a pinned reader, or the floor, keeps: resolve.ts).
   */
  expectHistory(actual: Change[], key: string, reference: number, limit: number, label: string): void {
    const strict = this.history(key, reference, limit);
    // A snapshot's history (reference below now) is exactly the newest N at or below it.
    if (reference !== this.version) {
      const withFloorEntry = this.history(key, reference, limit, false, true);
      expect([strict, withFloorEntry], label).toContainEqual(actual);
    }
    const all = this.history(key, reference, limit, true);
    expect(actual.length, `${label}: history length ${actual.length}, retained ${strict.length}`).toBeGreaterThanOrEqual(strict.length);
    expect(actual, label).toEqual(all.slice(0, actual.length));
  }

  /** history(key) as the README describes it, newest first, as of `reference`. */
  history(key: string, reference = this.version, limit = Infinity, everything = false, floorEntry = false): Change[] {
    const all = (this.changes.get(key) ?? []).filter((change) => change.version <= reference);
    let list = all.length > this.maxVersionsPerKey && !everything ? all.slice(all.length - this.maxVersionsPerKey) : all;
    if (this.floor > 0) {
      const atFloor = this.visible(key, this.floor);
      // The entry visible at the floor is retained (resolve.ts) whatever N says, if no
      // trim or compaction reclaimed it before the floor was raised.
      if (floorEntry && atFloor !== undefined && atFloor.change.version <= reference && !list.includes(atFloor.change)) list = [atFloor.change, ...list];
      if (atFloor !== undefined) {
        list = list.filter((change) => change.version > atFloor.change.version || (change.version === atFloor.change.version && !change.deleted));
      }
    }
    return list.reverse().slice(0, limit);
  }

  /** Keys in a scan's range, in scan order. */
  keysIn(bounds: Bounds, reverse: boolean): string[] {
    const keys = [...this.changes.keys()].filter((key) =>
      (bounds.gt === undefined || byHex(key, bounds.gt) > 0) && (bounds.gte === undefined || byHex(key, bounds.gte) >= 0) &&
      (bounds.lt === undefined || byHex(key, bounds.lt) < 0) && (bounds.lte === undefined || byHex(key, bounds.lte) <= 0)).sort(byHex);
    return reverse ? keys.reverse() : keys;
  }
}

export interface ScanOutcome {
  entries: Array<[string, unknown]>;
  error?: unknown;
  errorKey?: string;
}

/**
 * Checks a scan's outcome against the model: entries exact, in order, up to the limit;
 * a VersionNotRetainedError only where the rule allows it (at its key, after the
 * entries before it), and never missing where the rule is 'error'.
 */
export function checkScan(model: Model, outcome: ScanOutcome, bounds: Bounds, reverse: boolean, limit: number, version: number, reference: number, label: string, pinned = false): void {
  const expected: Array<[string, unknown]> = [];
  let mustFail = false;
  let failKey: string | undefined;
  const isRetentionError = outcome.error !== undefined && (outcome.error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED';
  if (outcome.error !== undefined && !isRetentionError) throw outcome.error;
  if (version < model.floor && !pinned) {
    expect(isRetentionError, `${label}: a scan below the floor ${model.floor} must throw VersionNotRetainedError`).toBe(true);
    if (limit === 0) return;
    return;
  }
  for (const key of model.keysIn(bounds, reverse)) {
    if (expected.length >= limit) break;
    if (isRetentionError && outcome.errorKey === key) {
      failKey = key;
      break;
    }
    const rule = model.rule(key, version, reference, pinned);
    if (rule === 'error') {
      mustFail = true;
      break;
    }
    const value = model.valueAt(key, version);
    if (model.visible(key, version) !== undefined && !model.visible(key, version)!.change.deleted) expected.push([key, value]);
  }
  if (isRetentionError) {
    expect(failKey, `${label}: scan threw VersionNotRetainedError at key ${outcome.errorKey} that the model did not reach (entries ${JSON.stringify(outcome.entries.map((entry) => entry[0]))})`).toBeDefined();
    expect(model.rule(failKey!, version, reference, pinned), `${label}: VersionNotRetainedError at ${failKey} as of ${version}, a retained version`).not.toBe('exact');
  } else {
    expect(mustFail, `${label}: scan did not throw VersionNotRetainedError`).toBe(false);
  }
  expect(outcome.entries, `${label}: scan entries`).toEqual(expected);
}
