/**
 * Cheap assertions, always on. They guard invariants whose failure would mean
 * acknowledging data that is not durable or returning wrong data, so they stay in
 * production builds. Expensive checks go behind `debugEnabled()` (src/util/debug.ts).
 */
import { AssertionFailedError } from '../errors.js';

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailedError(message);
}

export function assertNever(value: never, what: string): never {
  throw new AssertionFailedError(`unexpected ${what}: ${String(value)}`);
}
