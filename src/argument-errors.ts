/**
 * Misuse of the API: a wrong argument type, a value out of range, a bad option. These
 * subclass TypeError / RangeError, as Node's own APIs do, and carry a stable `code` as
 * every error of the package does (error-codes.ts); they are thrown before the store does
 * anything. Re-exported by src/errors.ts, which holds the store's own failures.
 */
import { types } from 'node:util';
import { ErrorCode } from './error-codes.js';

/**
 * A refused argument as a message shows it, without converting it: String() of an object
 * with no prototype throws a bare TypeError, and String() of any other object runs its
 * toPrimitive / toString (the caller's code, a Proxy's traps), either of which replaced the
 * typed refusal being built. Primitives print as String() prints them (a string cut after
 * 200 characters; -0 as -0; a bigint with its n); an object as its kind. Never throws.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value.length > 200 ? `${value.slice(0, 200)}...` : value;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'function':
      return 'a function';
    default:
      return value === null ? 'null' : describeObject(value as object);
  }
}

/**
 * Refuses an options argument that is a built-in object of another kind: an AbortSignal
 * (given where `{ signal }` was meant), an array, a Map or Set, a Date, a RegExp, a
 * Promise, an Error, a typed array or ArrayBuffer, a boxed primitive. None has own
 * enumerable names, so the unknown-name check found nothing and the method ran as with
 * no options: `transaction(body, signal)` committed with the signal aborted. A Proxy is
 * left to the checks that follow (no trap is run here).
 */
export function refuseOtherObjectKind(method: string, options: object): void {
  if (types.isProxy(options)) return;
  const other = Array.isArray(options) || options instanceof AbortSignal || types.isMap(options) || types.isSet(options)
    || types.isWeakMap(options) || types.isWeakSet(options) || types.isDate(options) || types.isRegExp(options) || types.isPromise(options)
    || types.isNativeError(options) || types.isArrayBufferView(options) || types.isAnyArrayBuffer(options) || types.isBoxedPrimitive(options);
  if (!other) return;
  const hint = options instanceof AbortSignal ? ' (a signal is given as { signal })' : '';
  throw new InvalidOptionError('options', `${method} options must be an object of named options, got ${describeObject(options)}${hint}`);
}

function describeObject(value: object): string {
  if (types.isProxy(value)) return 'a Proxy';
  try {
    if (Array.isArray(value)) return 'an array';
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype === null) return 'an object with no prototype';
    const constructor: unknown = Object.getOwnPropertyDescriptor(prototype, 'constructor')?.value;
    const name: unknown = typeof constructor === 'function' ? Object.getOwnPropertyDescriptor(constructor, 'name')?.value : undefined;
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `an object (${name})` : 'an object';
  } catch {
    return 'an object';
  }
}

/** 'reserved': under "\u0000ladybug/", written by the store only (src/lease/reserved-keys.ts). */
export type InvalidKeyReason = 'type' | 'empty' | 'too-long' | 'malformed' | 'reserved';

/**
 * The key is not a non-empty, well-formed string or Uint8Array within the size limit
 * ('malformed': a string with a lone surrogate, which has no UTF-8 encoding).
 */
export class InvalidKeyError extends TypeError {
  readonly code = ErrorCode.InvalidKey;
  readonly reason: InvalidKeyReason;
  constructor(reason: InvalidKeyReason, message: string) {
    super(message);
    this.name = 'InvalidKeyError';
    this.reason = reason;
  }
}

/** The value cannot be encoded (a function, a symbol, undefined, a cycle...). */
export class InvalidValueError extends TypeError {
  readonly code = ErrorCode.InvalidValue;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidValueError';
  }
}

/** The encoded value is larger than the store's `maxValueBytes`. */
export class ValueTooLargeError extends RangeError {
  readonly code = ErrorCode.ValueTooLarge;
  readonly sizeBytes: number;
  readonly maxBytes: number;
  constructor(sizeBytes: number, maxBytes: number) {
    super(`value encodes to ${sizeBytes} bytes, over the limit of ${maxBytes} bytes`);
    this.name = 'ValueTooLargeError';
    this.sizeBytes = sizeBytes;
    this.maxBytes = maxBytes;
  }
}

/** A batch has too many operations or too many bytes for one commit. */
export class BatchTooLargeError extends RangeError {
  readonly code = ErrorCode.BatchTooLarge;
  constructor(message: string) {
    super(message);
    this.name = 'BatchTooLargeError';
  }
}

/** An option passed to openStore (or to a method) is of the wrong type or out of range. */
export class InvalidOptionError extends TypeError {
  readonly code = ErrorCode.InvalidOption;
  readonly option: string;
  constructor(option: string, message: string) {
    super(`option ${option}: ${message}`);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}
