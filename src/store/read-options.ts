/**
 * Validation of read options (scan bounds, limit, reverse, asOf), shared by the
 * store, snapshots and transactions so every reader refuses bad input the same way.
 *
 * Invariant: a read never ignores an option it was given. Each read method names
 * the options it accepts (READ_OPTION_NAMES); any other name, a typo (`asof`) or
 * one that does not apply there (`asOf` on a snapshot or a transaction, which read
 * as of their own version), is refused with InvalidOptionError, as open options are.
 */
import { describeValue, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
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

const SCAN_RANGE_OPTION_NAMES = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit'] as const;

/** The option names each read method accepts. */
export const READ_OPTION_NAMES = {
  'store.get': ['asOf'],
  'store.scan': [...SCAN_RANGE_OPTION_NAMES, 'asOf'],
  'store.history': ['limit'],
  'snapshot.get': [],
  'snapshot.scan': SCAN_RANGE_OPTION_NAMES,
  'snapshot.history': ['limit'],
  'transaction.get': [],
  'transaction.scan': SCAN_RANGE_OPTION_NAMES,
  'transactionSync.get': [],
} as const satisfies Record<string, readonly string[]>;

export type ReadMethod = keyof typeof READ_OPTION_NAMES;

/** Why an option another read method takes does not apply to this one. */
function inapplicableReason(method: ReadMethod, name: string): string | undefined {
  if (name !== 'asOf') return undefined;
  if (method.startsWith('snapshot.')) return 'a snapshot reads as of its own version (snapshot.version)';
  if (method.startsWith('transaction.')) return 'a transaction reads as of its read version (tx.readVersion)';
  if (method.startsWith('transactionSync.')) return 'a transactionSync() body reads the latest ordered state';
  return undefined;
}

/**
 * `options` of a read method: undefined, or an object with only the names the
 * method accepts. Throws InvalidOptionError naming the first other one.
 */
export function readOptions<T extends object>(method: ReadMethod, options: T | undefined): T | undefined {
  const given = optionsObject(method, options);
  if (given === undefined) return undefined;
  const accepted: readonly string[] = READ_OPTION_NAMES[method];
  for (const name of Object.keys(given)) {
    if (accepted.includes(name)) continue;
    const reason = inapplicableReason(method, name);
    if (reason !== undefined) throw new InvalidOptionError(name, `does not apply to ${method}(): ${reason}`);
    const list = accepted.length === 0 ? 'none' : accepted.join(', ');
    throw new InvalidOptionError(name, `is not an option of ${method}() (accepted: ${list})`);
  }
  return given;
}

/**
 * InvalidOptionError naming the first own name of `given` that `accepted` does not hold:
 * a typo (`retry`, `retainfrom`) is refused, never ignored. A for-in: no array per call.
 */
export function refuseUnknownOptions(method: string, given: object, accepted: readonly string[]): void {
  for (const name in given) {
    if (Object.prototype.hasOwnProperty.call(given, name) && !accepted.includes(name)) {
      throw new InvalidOptionError(name, `is not an option of ${method}() (accepted: ${accepted.join(', ')})`);
    }
  }
}

/** `options` itself: undefined, or an object (null and primitives are refused). */
export function optionsObject<T extends object>(method: string, options: T | undefined): T | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', `${method}() options must be an object, got ${describeValue(options)}`);
  }
  refuseOtherObjectKind(`${method}()`, options);
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
    throw new InvalidOptionError('limit', `must be a non-negative integer, got ${describeValue(limit)}`);
  }
  return limit;
}

export function booleanOption(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be a boolean, got ${describeValue(value)}`);
  return value;
}

/** A version to read as of: an integer in [0, newest]; undefined means `newest`. */
export function asOfOption(asOf: unknown, newest: number): number {
  if (asOf === undefined) return newest;
  if (typeof asOf !== 'number' || !Number.isInteger(asOf) || asOf < 0 || asOf > newest) {
    throw new InvalidOptionError('asOf', `must be an integer version between 0 and ${newest}, got ${describeValue(asOf)}`);
  }
  return asOf;
}

/** compact()'s `retainFrom`: undefined, or a non-negative integer version (capped later, never refused for being high). */
export function retainFromOption(retainFrom: unknown): number | undefined {
  if (retainFrom === undefined) return undefined;
  if (typeof retainFrom !== 'number' || !Number.isSafeInteger(retainFrom) || retainFrom < 0) {
    throw new InvalidOptionError('retainFrom', `must be a non-negative integer version, got ${describeValue(retainFrom)}`);
  }
  return retainFrom;
}

/** Validates scan options, names included, into bounds (asOf is handled by the caller). */
export function scanBounds(method: 'store.scan' | 'snapshot.scan' | 'transaction.scan', options: ScanOptions | undefined): ScanBounds {
  const given = readOptions(method, options) ?? {};
  return { range: keyRange(given), limit: limitOption(given.limit), reverse: booleanOption('reverse', given.reverse) };
}
