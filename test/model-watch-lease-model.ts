/**
 * The model of model-watch-lease-random.test.ts: every commit in version order (its
 * changes last-write-wins, in key byte order, lease records included), the current value
 * of every key, the lease records with their holders, tokens, deadlines on a fake clock
 * and bound keys, and the store-wide retention floor.
 *
 * Keys are JavaScript strings (the store's default utf8 key encoding); a lease record's
 * value is compared by its owner only (its nonce and deadlines are the store's own).
 */
import { Buffer } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';

export const RESERVED = '\u0000ladybug/';
export const RECORD_PREFIX = `${RESERVED}lease/`;
export const AUDIT_PREFIX = `${RESERVED}lease-audit/`;

export interface ModelChange { key: string; value?: unknown; deleted: boolean }
export interface Commit { version: number; changes: ModelChange[] }
export type Operation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

/** How often each case was met, over every sequence of this process (WATCH_LEASE_TALLY=1 prints it). */
export const tally = new Map<string, number>();
export const count = (name: string): void => void tally.set(name, (tally.get(name) ?? 0) + 1);

export const byBytes = (left: string, right: string): number => Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));

export interface LeaseState {
  owner: string;
  token: number;
  ttlMs: number;
  deadlineMs: number;
  /** Bound key -> the version of the write that last bound it. */
  bound: Map<string, number>;
}

/** What a store's lease record is compared by. */
export const recordValue = (owner: string): { owner: string } => ({ owner });

export class Model {
  version = 0;
  floor = 0;
  readonly commits: Commit[] = [];
  /** Per key, the versions it changed at (oldest first). */
  readonly versions = new Map<string, number[]>();
  readonly current = new Map<string, { version: number; value?: unknown; deleted: boolean }>();
  readonly leases = new Map<string, LeaseState>();
  /** The fake monotonic clock performance.now() answers. */
  clockMs = 1_000_000;
  /** Every acquisition seen, for stale tokens. */
  readonly acquisitions: Array<{ name: string; owner: string; token: number }> = [];
  /** Called with each commit (the watches count what they buffer). */
  onCommit: (commit: Commit) => void = () => undefined;

  constructor(readonly maxVersionsPerKey: number) {}

  /** Applies one commit at `version` (must be the next one); the last write of a key wins. */
  commit(version: number, operations: readonly Operation[]): Commit {
    expect(version, 'commit version').toBe(this.version + 1);
    const last = new Map<string, Operation>();
    for (const operation of operations) {
      last.delete(operation.key);
      last.set(operation.key, operation);
    }
    const changes = [...last.values()].map((operation): ModelChange => (operation.type === 'put' ? { key: operation.key, value: operation.value, deleted: false } : { key: operation.key, deleted: true }))
      .sort((left, right) => byBytes(left.key, right.key));
    for (const change of changes) {
      this.current.set(change.key, { version, value: change.value, deleted: change.deleted });
      const list = this.versions.get(change.key) ?? [];
      list.push(version);
      this.versions.set(change.key, list);
    }
    const commit = { version, changes };
    this.commits.push(commit);
    this.version = version;
    this.onCommit(commit);
    return commit;
  }

  valueOf(key: string): unknown {
    const found = this.current.get(key);
    return found === undefined || found.deleted ? undefined : found.value;
  }

  live(name: string): LeaseState | undefined {
    const lease = this.leases.get(name);
    return lease !== undefined && this.clockMs < lease.deadlineMs ? lease : undefined;
  }

  /** True when `token` (and `owner`, if given) holds `name` now. */
  holds(name: string, token: number, owner: string | undefined): boolean {
    const lease = this.live(name);
    return lease !== undefined && lease.token === token && (owner === undefined || owner === lease.owner);
  }

  /** The deletes of the keys `name` still owns: each one's newest write is the lease's last bound write of it. */
  ownedDeletes(name: string): Operation[] {
    const lease = this.leases.get(name);
    if (lease === undefined) return [];
    const deletes: Operation[] = [];
    for (const [key, boundVersion] of lease.bound) {
      const found = this.current.get(key);
      if (found !== undefined && !found.deleted && found.version === boundVersion) deletes.push({ type: 'del', key });
    }
    return deletes;
  }

  /** The commit that ends lease `name` (release, expiry, restart rule; a force release adds its audit entry). */
  endLease(version: number, name: string, audit?: { actor: string; reason: string }): void {
    const lease = this.leases.get(name);
    expect(lease, `lease ${name} ended, but the model holds no record`).toBeDefined();
    const operations: Operation[] = [...this.ownedDeletes(name), { type: 'del', key: RECORD_PREFIX + name }];
    if (operations.length > 1) count('lease end deleting bound keys');
    if (audit !== undefined) operations.push({ type: 'put', key: AUDIT_PREFIX + name, value: { previousOwner: lease!.owner } });
    this.leases.delete(name);
    this.commit(version, operations);
  }

  /** An acquisition at `version`: replaces an expired record (deleting what it owns) in the same commit. */
  acquire(version: number, name: string, owner: string, ttlMs: number): void {
    const operations: Operation[] = [...this.ownedDeletes(name), { type: 'put', key: RECORD_PREFIX + name, value: recordValue(owner) }];
    this.leases.set(name, { owner, token: version, ttlMs, deadlineMs: this.clockMs + ttlMs, bound: new Map() });
    this.acquisitions.push({ name, owner, token: version });
    this.commit(version, operations);
  }

  /** A write bound to lease `name`: its put keys are bound at its version, and the record is rewritten (when it binds any). */
  boundWrite(version: number, name: string, operations: readonly Operation[]): void {
    const lease = this.leases.get(name)!;
    const puts = operations.filter((operation) => operation.type === 'put').map((operation) => operation.key);
    const all = [...operations];
    if (puts.length > 0) {
      for (const key of puts) lease.bound.set(key, version);
      all.push({ type: 'put', key: RECORD_PREFIX + name, value: recordValue(lease.owner) });
    }
    this.commit(version, all);
  }

  /**
   * Whether a catch-up over (since, upTo] of keys `accepted` may end in VersionNotRetainedError:
   * 'must' below the floor, 'may' where a key it delivers lost versions to maxVersionsPerKey
   * (the store refuses when a trimmed chain may have held an undelivered change), else 'never'.
   */
  catchUpRule(since: number, upTo: number, accepted: (key: string) => boolean): 'must' | 'may' | 'never' {
    if (since >= upTo) return 'never';
    if (since < this.floor) return 'must';
    if (this.maxVersionsPerKey === Infinity) return 'never';
    for (const [key, list] of this.versions) {
      if (!accepted(key) || list.length <= this.maxVersionsPerKey) continue;
      // Not bounded by upTo: a chain trimmed below a version above upTo may have held one at or below it.
      if (list.some((version) => version > since)) return 'may';
    }
    return 'never';
  }
}

/** Compares a delivered change with the model's (a lease record by its owner, an audit entry by its previous owner). */
export function expectChange(actual: { version: number; key: string | Uint8Array; value?: unknown; deleted: boolean }, version: number, expected: ModelChange, label: () => string): void {
  const compared = expected.deleted ? undefined
    : expected.key.startsWith(RECORD_PREFIX) ? [(actual.value as { owner?: string }).owner, (expected.value as { owner: string }).owner]
      : expected.key.startsWith(AUDIT_PREFIX) ? [(actual.value as { previousOwner?: string }).previousOwner, (expected.value as { previousOwner: string }).previousOwner]
        : [actual.value, expected.value];
  const same = actual.version === version && actual.key === expected.key && actual.deleted === expected.deleted
    && (expected.deleted ? actual.value === undefined : compared![0] === compared![1] || (typeof compared![0] === 'object' && isDeepStrictEqual(compared![0], compared![1])));
  if (same) return;
  const where = `${label()}: expected v${version} ${JSON.stringify(expected.key).slice(0, 40)} ${expected.deleted ? 'deleted' : ''}, got v${actual.version} ${JSON.stringify(actual.key).slice(0, 40)}${actual.deleted ? ' deleted' : ''}`;
  expect([actual.version, actual.key, actual.deleted], where).toEqual([version, expected.key, expected.deleted]);
  expect(compared?.[0], where).toEqual(compared?.[1]);
}
