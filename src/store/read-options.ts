/**
 * Validation of read options (scan bounds, limit, reverse, asOf), shared by the
 * store, snapshots and transactions so every reader refuses bad input the same way.
 */
import { InvalidOptionError } from '../errors.js';
import { internalKey, type Key } from '../codec/keys.js';
import type { KeyRange } from '../memory/memory-index.js';

export interface ScanOptions {
  gt?: Key;
  gte?: Key;
  lt?: Key;
  lte?: Key;
  reverse?: boolean;
  limit?: number;
  asOf?: number;
}

/** A scan's validated plan: bounds in internal key form, limit and direction. */
export interface ScanBounds {
  range: KeyRange;
  limit: number;
  reverse: boolean;
}

/** `options` itself: undefined, or an object (null and primitives are refused). */
export function optionsObject<T extends object>(method: string, options: T | undefined): T | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', `${method}() options must be an object, got ${String(options)}`);
  }
  return options;
}

export function keyRange(options: ScanOptions): KeyRange {
  if (options.gt !== undefined && options.gte !== undefined) throw new InvalidOptionError('gt', 'give gt or gte, not both');
  if (options.lt !== undefined && options.lte !== undefined) throw new InvalidOptionError('lt', 'give lt or lte, not both');
  const range: KeyRange = {};
  if (options.gt !== undefined) range.gt = internalKey(options.gt);
  if (options.gte !== undefined) range.gte = internalKey(options.gte);
  if (options.lt !== undefined) range.lt = internalKey(options.lt);
  if (options.lte !== undefined) range.lte = internalKey(options.lte);
  return range;
}

export function limitOption(limit: unknown): number {
  if (limit === undefined || limit === Infinity) return Infinity;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new InvalidOptionError('limit', `must be a non-negative integer, got ${String(limit)}`);
  }
  return limit;
}

export function booleanOption(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be a boolean, got ${String(value)}`);
  return value;
}

/** A version to read as of: an integer in [0, newest]; undefined means `newest`. */
export function asOfOption(asOf: unknown, newest: number): number {
  if (asOf === undefined) return newest;
  if (typeof asOf !== 'number' || !Number.isInteger(asOf) || asOf < 0 || asOf > newest) {
    throw new InvalidOptionError('asOf', `must be an integer version between 0 and ${newest}, got ${String(asOf)}`);
  }
  return asOf;
}

/** Validates scan options into bounds (asOf is handled by the caller). */
export function scanBounds(method: string, options: ScanOptions | undefined): ScanBounds {
  const given = optionsObject(method, options) ?? {};
  return { range: keyRange(given), limit: limitOption(given.limit), reverse: booleanOption('reverse', given.reverse) };
}
