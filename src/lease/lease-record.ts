/**
 * Lease records: what one lease looks like in the store, the reserved key space it
 * lives in, and the validation of every caller-supplied field.
 *
 * Key space: the record of lease NAME is the key LEASE_RECORD_PREFIX + NAME; the
 * last force release of NAME is recorded under LEASE_AUDIT_PREFIX + NAME. Both
 * prefixes start with U+0000 and "ladybug/", which no lease name can contain (names
 * are [A-Za-z0-9._:/-]), so a name can never reach outside its own record. User
 * writes to keys beginning with "\u0000ladybug/" are refused (InvalidKeyError
 * 'reserved', src/lease/reserved-keys.ts); a record that still cannot be read is
 * reported as corrupt.
 *
 * Invariants of a stored record (checked by `parseRecord` on every read):
 * - `nonce` is unique per acquisition; renew and bound-key writes keep it, so the
 *   record's acquisition is identified by it (and its token is the version of the
 *   commit that first wrote that nonce).
 * - `instanceId` names the open store that acquired it: a record of another open
 *   is expired (the restart rule, docs/ARCHITECTURE.md "Leases").
 * - `deadlineMs` is on this process's monotonic clock (performance.now()).
 * - `boundVersions` (when present) has one entry per bound key: the version of the
 *   write that last bound it, 0 for the commit that wrote this version of the record
 *   (lease-bound-keys.ts).
 */
import { CorruptionError, describeValue, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import { LEASE_BOUND_KEYS_MAX, LEASE_NAME_BYTES_MAX, LEASE_OWNER_BYTES_MAX, LEASE_REASON_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

import { RESERVED_KEY_PREFIX } from './reserved-prefix.js';

export { RESERVED_KEY_PREFIX };
export const LEASE_RECORD_PREFIX = `${RESERVED_KEY_PREFIX}lease/`;
export const LEASE_AUDIT_PREFIX = `${RESERVED_KEY_PREFIX}lease-audit/`;

const NAME_PATTERN = /^[A-Za-z0-9._:/-]+$/;

export interface LeaseRecord {
  owner: string;
  nonce: string;
  instanceId: string;
  ttlMs: number;
  deadlineMs: number;
  /** Wall-clock time of the deadline, for display only (never used to decide expiry). */
  expiresAtMs: number;
  boundKeys: string[];
  /**
   * Per bound key (same order), the version of the commit that last wrote it bound to
   * this lease; 0 for a key bound by the commit that wrote this version of the record
   * (its version is not known while the commit is built). Absent in records of
   * releases before 2026-12-02 (their keys are deleted at the lease's end as they were).
   */
  boundVersions?: number[];
}

/** What callers see of a live lease. */
export interface LeaseInfo {
  name: string;
  owner: string;
  token: number;
  /** Wall-clock time (ms since the epoch) the lease expires unless renewed. */
  expiresAt: number;
}

export function recordKey(name: string): string {
  return LEASE_RECORD_PREFIX + name;
}

export function auditKey(name: string): string {
  return LEASE_AUDIT_PREFIX + name;
}

/** Validates a lease name before any use (it becomes part of a key, never a path). */
export function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidOptionError('name', `lease name must be a string, got ${typeof name}`);
  if (name.length === 0 || name.length > LEASE_NAME_BYTES_MAX) {
    throw new InvalidOptionError('name', `lease name must be 1..${LEASE_NAME_BYTES_MAX} bytes, got ${name.length}`);
  }
  if (!NAME_PATTERN.test(name)) throw new InvalidOptionError('name', `lease name ${JSON.stringify(name)} may only use A-Z a-z 0-9 . _ : / -`);
  return name;
}

/**
 * The options object of a lease method: an object whose names are all in `known`
 * (a typo such as `wait` for `waitMs` is refused, never ignored). Returns it.
 */
export function checkLeaseOptions<T extends object>(operation: string, options: T | undefined, known: readonly string[]): T {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', `${operation} options must be an object, got ${options === null ? 'null' : typeof options}`);
  refuseOtherObjectKind(operation, options);
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw new InvalidOptionError(name, `is not an option of ${operation} (${known.join(', ')})`);
  }
  return options;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal');
  return signal;
}

export function checkText(option: string, value: unknown, maxBytes: number): string {
  if (typeof value !== 'string') throw new InvalidOptionError(option, `must be a string, got ${typeof value}`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes === 0 || bytes > maxBytes) throw new InvalidOptionError(option, `must be 1..${maxBytes} bytes, got ${bytes}`);
  return value;
}

export function checkOwner(owner: unknown): string {
  return checkText('owner', owner, LEASE_OWNER_BYTES_MAX);
}

export function checkReason(reason: unknown): string {
  return checkText('reason', reason, LEASE_REASON_BYTES_MAX);
}

export function checkTtl(ttlMs: unknown, ttlMsMax: number): number {
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > ttlMsMax) {
    throw new InvalidOptionError('ttlMs', `must be an integer between 1 and ${ttlMsMax} (leaseTtlMsMax), got ${describeValue(ttlMs)}`);
  }
  return ttlMs;
}

export function checkToken(token: unknown): number {
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 1) {
    throw new InvalidOptionError('token', `must be a positive integer (the token acquire returned), got ${describeValue(token)}`);
  }
  return token;
}

export function checkWaitMs(waitMs: unknown): number {
  if (waitMs === undefined) return 0;
  if (typeof waitMs !== 'number' || !Number.isInteger(waitMs) || waitMs < 0 || waitMs > 2 ** 31 - 1) {
    throw new InvalidOptionError('waitMs', `must be an integer between 0 and ${2 ** 31 - 1}, got ${describeValue(waitMs)}`);
  }
  return waitMs;
}

/** Reads a stored record; anything else under the reserved prefix is corruption. */
export function parseRecord(name: string, value: unknown): LeaseRecord | undefined {
  if (value === undefined) return undefined;
  const record = value as Partial<LeaseRecord> | null;
  const valid = record !== null && typeof record === 'object'
    && typeof record.owner === 'string' && typeof record.nonce === 'string' && typeof record.instanceId === 'string'
    && typeof record.ttlMs === 'number' && typeof record.deadlineMs === 'number' && typeof record.expiresAtMs === 'number'
    && Array.isArray(record.boundKeys) && record.boundKeys.length <= LEASE_BOUND_KEYS_MAX
    && record.boundKeys.every((key) => typeof key === 'string')
    && (record.boundVersions === undefined || (Array.isArray(record.boundVersions) && record.boundVersions.length === record.boundKeys.length
      && record.boundVersions.every((version) => Number.isSafeInteger(version) && version >= 0)));
  if (!valid) throw new CorruptionError(`lease record ${JSON.stringify(name)}`, 0, 'not a lease record (reserved key written directly?)');
  return record as LeaseRecord;
}

/** The record with a new deadline `ttlMs` from now. */
export function withDeadline(record: LeaseRecord, ttlMs: number): LeaseRecord {
  assert(ttlMs > 0, 'a lease deadline lies in the future');
  return { ...record, ttlMs, deadlineMs: performance.now() + ttlMs, expiresAtMs: Date.now() + ttlMs };
}
