/**
 * How the input fuzz (model-input-fuzz.test.ts) runs one call and judges its end: the
 * call is bounded by a timeout (a hang fails the case by name), a promise it returns is
 * awaited, and a refusal must be the documented class with its stable `code`, thrown
 * or rejected the way README says (promise-returning methods reject, never throw;
 * stats() throws). A caller's own throw (a getter or a body's) may come back as itself
 * or as the `cause` of a typed error.
 */
import {
  BatchTooLargeError, ErrorCode, InvalidKeyError, InvalidOptionError, InvalidValueError, KeyEncodingError,
  SnapshotReleasedError, StoreClosedError, TransactionClosedError, TransactionLimitError, ValueTooLargeError,
} from '../src/index.js';
import { inspect } from 'node:util';

export const CALL_TIMEOUT_MS = 5_000;

const CLASS_OF_CODE: Record<string, abstract new (...args: never[]) => Error> = {
  [ErrorCode.InvalidKey]: InvalidKeyError,
  [ErrorCode.InvalidValue]: InvalidValueError,
  [ErrorCode.ValueTooLarge]: ValueTooLargeError,
  [ErrorCode.BatchTooLarge]: BatchTooLargeError,
  [ErrorCode.InvalidOption]: InvalidOptionError,
  [ErrorCode.KeyNotUtf8]: KeyEncodingError,
  [ErrorCode.StoreClosed]: StoreClosedError,
  [ErrorCode.SnapshotReleased]: SnapshotReleasedError,
  [ErrorCode.TransactionClosed]: TransactionClosedError,
  [ErrorCode.TransactionLimit]: TransactionLimitError,
};

export type Ending =
  | { how: 'returned'; value: unknown }
  | { how: 'resolved'; value: unknown }
  | { how: 'threw'; error: unknown }
  | { how: 'rejected'; error: unknown };

/** Runs `call`; awaits what it returns if that is a promise, at most CALL_TIMEOUT_MS. */
export async function settle(what: string, call: () => unknown): Promise<Ending> {
  let returned: unknown;
  try {
    returned = call();
  } catch (error) {
    return { how: 'threw', error };
  }
  if (!(returned instanceof Promise)) return { how: 'returned', value: returned };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CALL_TIMEOUT_MS} ms (a hang)`)), CALL_TIMEOUT_MS);
  });
  try {
    return { how: 'resolved', value: await Promise.race([returned, hang]) };
  } catch (error) {
    if (error instanceof Error && error.message.endsWith('(a hang)')) throw error;
    return { how: 'rejected', error };
  } finally {
    clearTimeout(timer);
  }
}

/** What a refused call may end with: one of `codes`, or one of the caller's own throws. */
export interface Refusal {
  codes: string[];
  ownThrows: unknown[];
}

export function refusalOf(codes: Iterable<string>, ownThrows: Iterable<unknown> = []): Refusal {
  return { codes: [...new Set(codes)], ownThrows: [...ownThrows] };
}

export function isRefusal(refusal: Refusal): boolean {
  return refusal.codes.length > 0 || refusal.ownThrows.length > 0;
}

function describe(error: unknown): string {
  return inspect(error, { depth: 1, breakLength: Infinity }).split('\n')[0]!.slice(0, 300);
}

/** Throws unless `error` is an accepted refusal: the documented class and code, or a caller's own throw. */
export function expectRefusedWith(what: string, error: unknown, refusal: Refusal): void {
  if (refusal.ownThrows.some((own) => Object.is(own, error) || Object.is((error as { cause?: unknown } | undefined)?.cause, own))) return;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && refusal.codes.includes(code)) {
    const expectedClass = CLASS_OF_CODE[code];
    if (expectedClass !== undefined && !(error instanceof expectedClass)) throw new Error(`${what}: ${code} on an error not of its class: ${describe(error)}`);
    return;
  }
  throw new Error(`${what}: ended with ${describe(error)}, expected ${refusal.codes.join(' or ') || 'no code'}${refusal.ownThrows.length > 0 ? ' or the caller\'s own throw' : ''}`);
}

/**
 * A promise-returning method: a refusal must reject (never throw), an accepted call
 * resolve; returns the resolved value.
 */
export function expectAsync(what: string, ending: Ending, refusal: Refusal): unknown {
  if (ending.how === 'threw') throw new Error(`${what}: threw synchronously (${describe(ending.error)}); a promise-returning method must reject`);
  if (ending.how === 'returned') throw new Error(`${what}: returned ${describe(ending.value)}, not a promise`);
  if (isRefusal(refusal)) {
    if (ending.how === 'resolved') throw new Error(`${what}: resolved with ${describe(ending.value)}, expected ${refusal.codes.join(' or ') || 'the caller\'s own throw'}`);
    expectRefusedWith(what, ending.error, refusal);
    return undefined;
  }
  if (ending.how === 'rejected') throw new Error(`${what}: rejected with ${describe(ending.error)}, expected to succeed`);
  return ending.value;
}

/** A synchronous method (stats): a refusal must throw; returns what it returned. */
export function expectSync(what: string, ending: Ending, refusal: Refusal): unknown {
  if (ending.how === 'resolved' || ending.how === 'rejected') throw new Error(`${what}: returned a promise from a synchronous method`);
  if (isRefusal(refusal)) {
    if (ending.how === 'returned') throw new Error(`${what}: returned ${describe(ending.value)}, expected ${refusal.codes.join(' or ')}`);
    expectRefusedWith(what, ending.error, refusal);
    return undefined;
  }
  if (ending.how === 'threw') throw new Error(`${what}: threw ${describe(ending.error)}, expected to succeed`);
  return ending.value;
}
