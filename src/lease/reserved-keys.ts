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

let reservedScopeDepth = 0;

/** Runs the synchronous `write` with writes under the reserved prefix allowed. */
export function writeReservedKeys<T>(write: () => T): T {
  reservedScopeDepth++;
  try {
    const result = write();
    assert(!(result instanceof Promise), 'a reserved-key write scope is synchronous');
    return result;
  } finally {
    reservedScopeDepth--;
    assert(reservedScopeDepth >= 0, 'reserved-key scopes are balanced');
  }
}

/** Throws InvalidKeyError 'reserved' for a key under "\u0000ladybug/" written outside writeReservedKeys. */
export function checkWritableKey(internal: string): void {
  if (reservedScopeDepth === 0 && internal.startsWith(RESERVED_KEY_PREFIX)) {
    throw new InvalidKeyError('reserved', 'keys beginning with "\\u0000ladybug/" are reserved for the store (leases); use another prefix');
  }
}

/**
 * The value limit of a put of `internal`: the user's `maxValueBytes`, or for the store's own
 * record written inside writeReservedKeys, VALUE_BYTES_DEFAULT_MAX (its fields are bounded).
 */
export function valueBytesMaxFor(internal: string, maxValueBytes: number): number {
  return reservedScopeDepth > 0 && internal.startsWith(RESERVED_KEY_PREFIX) ? Math.max(maxValueBytes, VALUE_BYTES_DEFAULT_MAX) : maxValueBytes;
}
