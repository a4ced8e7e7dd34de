/**
 * Errors across the merge thread's message port (merge-thread.ts, merge-worker.ts).
 * Structured cloning keeps an Error's message but not its class nor its own fields,
 * so the worker sends name, message, stack and the own primitive fields (code, file,
 * offset, errno, syscall, path...), and the cause one level deep; the main side
 * rebuilds an object of the same class (a CorruptionError stays a CorruptionError with
 * the same code, message, file and offset), so `failures`, lastError and the write
 * stall see exactly what the in-process merge would have thrown.
 *
 * Invariant: only classes listed in `knownClasses` are rebuilt as such; any other
 * error comes back as a plain Error carrying the same name, message and fields.
 */
import {
  AssertionFailedError, CorruptionError, DiskFullError, IoError, LadybugError, StoreClosedError, StoreFailedError,
} from '../errors.js';

export interface SerializedError {
  name: string;
  /** The class to rebuild (the constructor's name), when it is one of `knownClasses`. */
  className: string | undefined;
  message: string;
  stack: string | undefined;
  fields: Record<string, string | number | boolean | null | undefined>;
  cause: SerializedError | undefined;
}

/** The classes a merge can throw that callers tell apart (by instanceof or code). */
const knownClasses: ReadonlyMap<string, { prototype: object }> = new Map<string, { prototype: object }>([
  ['CorruptionError', CorruptionError],
  ['DiskFullError', DiskFullError],
  ['IoError', IoError],
  ['StoreClosedError', StoreClosedError],
  ['StoreFailedError', StoreFailedError],
  ['AssertionFailedError', AssertionFailedError],
  ['LadybugError', LadybugError],
  ['RangeError', RangeError],
  ['TypeError', TypeError],
]);

/** Causes nested deeper than this are dropped (an error chain is one or two links). */
const CAUSE_DEPTH_MAX = 3;

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    return { name: 'Error', className: undefined, message: String(error), stack: undefined, fields: {}, cause: undefined };
  }
  const fields: SerializedError['fields'] = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'cause' || key === 'message' || key === 'stack') continue;
    if (value === null || value === undefined || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
  }
  const className = error.constructor.name;
  const cause = (error as { cause?: unknown }).cause;
  return {
    name: error.name,
    className: knownClasses.has(className) ? className : undefined,
    message: error.message,
    stack: error.stack,
    fields,
    cause: cause === undefined || depth >= CAUSE_DEPTH_MAX ? undefined : serializeError(cause, depth + 1),
  };
}

export function deserializeError(serialized: SerializedError): Error {
  const prototype = serialized.className === undefined ? Error.prototype : knownClasses.get(serialized.className)?.prototype ?? Error.prototype;
  const error = Object.create(prototype) as Error;
  Object.defineProperty(error, 'message', { value: serialized.message, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(error, 'stack', { value: serialized.stack, writable: true, configurable: true, enumerable: false });
  for (const [key, value] of Object.entries(serialized.fields)) {
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: true });
  }
  if (error.name !== serialized.name) Object.defineProperty(error, 'name', { value: serialized.name, writable: true, configurable: true, enumerable: false });
  if (serialized.cause !== undefined) {
    Object.defineProperty(error, 'cause', { value: deserializeError(serialized.cause), writable: true, configurable: true, enumerable: false });
  }
  return error;
}
