/**
 * The reserved key space "\u0000ladybug/": only the store's own modules write it.
 *
 * Mechanism: every put and delete is validated in src/commit/prepare.ts, which calls
 * checkWritableKey on the internal key (a string key and a Uint8Array key with the
 * same bytes have the same internal key, so both are covered). A key under the
 * prefix is refused with InvalidKeyError (reason 'reserved', code
 * LADYBUG_INVALID_KEY) unless the write runs inside writeReservedKeys, which the
 * lease module wraps around its record and audit writes (tx.put / tx.delete).
 *
 * Invariant: the scope is synchronous. tx.put, tx.delete and the prepare step are
 * synchronous, so nothing else can run while the scope is open: a user write that
 * interleaves with a lease transaction (at one of its awaits) is outside the scope
 * and is refused. writeReservedKeys asserts its function returned no promise.
 *
 * The store's own values here (lease records, force-release audit entries) are held to
 * their fields' own limits (lease-record.ts: name, owner, actor, reason, bound keys),
 * checked at the call with InvalidOptionError naming the field, not to the user's
 * `maxValueBytes` (as small as 1 KiB): valueBytesMaxFor. The largest such record (1024
 * bound keys of 1 KiB) is far below VALUE_BYTES_DEFAULT_MAX, their cap here.
 *
 * Reads are not restricted: scans and gets may see the prefix (the change feed
 * hides it unless asked).
 */
import { InvalidKeyError } from '../errors.js';
import { VALUE_BYTES_DEFAULT_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { RESERVED_KEY_PREFIX } from './lease-record.js';

/** How deep the synchronous write scopes below are entered (each is a depth: scopes nest). */
const reservedScope = { depth: 0, name: 'reserved-key' };
const shrinkingScope = { depth: 0, name: 'shrinking-value' };

/** Runs the synchronous `write` inside `scope` (its depth is above 0 while it runs). */
function inScope<T>(scope: { depth: number; name: string }, write: () => T): T {
  scope.depth++;
  try {
    const result = write();
    assert(!(result instanceof Promise), `a ${scope.name} write scope is synchronous`);
    return result;
  } finally {
    scope.depth--;
    assert(scope.depth >= 0, `${scope.name} scopes are balanced`);
  }
}

/** Runs the synchronous `write` with writes under the reserved prefix allowed. */
export function writeReservedKeys<T>(write: () => T): T {
  return inScope(reservedScope, write);
}

/** Throws InvalidKeyError 'reserved' for a key under "\u0000ladybug/" written outside writeReservedKeys. */
export function checkWritableKey(internal: string): void {
  if (reservedScope.depth === 0 && internal.startsWith(RESERVED_KEY_PREFIX)) {
    throw new InvalidKeyError('reserved', 'keys beginning with "\\u0000ladybug/" are reserved for the store (leases); use another prefix');
  }
}

/**
 * Runs the synchronous `write`, whose puts each write a value no larger than the one
 * already stored under its key (the level adapter's pair slot less a deleted half), with
 * the value limit VALUE_BYTES_DEFAULT_MAX: a store reopened with a lower `maxValueBytes`
 * holds values over it, and a write that only shrinks one is not refused for its size.
 */
export function writeShrinkingValues<T>(write: () => T): T {
  return inScope(shrinkingScope, write);
}

/**
 * The value limit of a put of `internal`: the user's `maxValueBytes`, or for the store's own
 * record written inside writeReservedKeys, VALUE_BYTES_DEFAULT_MAX (its fields are bounded),
 * as for a value written inside writeShrinkingValues.
 */
export function valueBytesMaxFor(internal: string, maxValueBytes: number): number {
  const raised = shrinkingScope.depth > 0 || (reservedScope.depth > 0 && internal.startsWith(RESERVED_KEY_PREFIX));
  return raised ? Math.max(maxValueBytes, VALUE_BYTES_DEFAULT_MAX) : maxValueBytes;
}
