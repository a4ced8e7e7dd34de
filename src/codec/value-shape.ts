/**
 * The shape check every value passes before it is encoded (src/codec/values.ts).
 *
 * msgpack would store some values the store must not accept: it recurses, so a
 * deep value written on a thread with a large stack cannot be decoded on one with
 * a small stack (at open, that record is unreadable); msgpackr renames an own
 * "__proto__" key on decode; and a string with a lone surrogate has no UTF-8 form
 * and reads back with U+FFFD. One walk of the whole value refuses all three with
 * InvalidValueError, wherever they are: object keys and values, array elements,
 * Map keys and values, Set members, an Error's name, message and cause, what a
 * toJSON() returns. Byte containers (typed arrays, DataView, ArrayBuffer) and
 * Dates hold no strings or children and are not entered.
 *
 * A Map whose keys share a property name or include "__proto__", a Map subclass, a
 * boxed primitive, a Promise, a SharedArrayBuffer, a WeakMap and a WeakSet are refused
 * too: each would read back with entries or its value lost.
 *
 * Invariants: the walk is iterative (an explicit stack), so the check itself cannot
 * overflow; it never goes deeper than VALUE_NESTING_DEPTH_MAX; it visits at most
 * `maxElements` children (every child encodes to at least one byte, so a value with
 * more cannot fit in `maxValueBytes`: ValueTooLargeError), which bounds the work on
 * a cycle or on a small graph of shared references that would encode enormous.
 * It follows msgpackr's own dispatch (plain object, array, Map, extension types,
 * toJSON, other objects by their own enumerable keys), so it sees what is encoded.
 */
import { types } from 'node:util';
import { InvalidValueError, ValueTooLargeError } from '../errors.js';
import { VALUE_NESTING_DEPTH_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

const hasOwn = Object.prototype.hasOwnProperty;

type WellFormedCheck = (this: string) => boolean;
const isWellFormed = (String.prototype as unknown as { isWellFormed?: WellFormedCheck }).isWellFormed;
assert(typeof isWellFormed === 'function', 'String.prototype.isWellFormed exists (Node >= 20)');
const wellFormed: WellFormedCheck = isWellFormed;

/** `where` names the string in the message (built only on failure: this runs for every key). */
function checkString(text: string, where: 'key' | 'string'): void {
  if (!wellFormed.call(text)) {
    const what = where === 'key' ? `the object key ${JSON.stringify(text)}` : 'a string in the value';
    throw new InvalidValueError(`${what} contains a lone surrogate: it has no UTF-8 form and would read back changed`);
  }
}

/**
 * A built-in from another realm (a vm context, a test environment's globals): msgpackr
 * dispatches on this realm's classes, so it would write a foreign Map, Set, RegExp,
 * Error or typed array as a plain object of its own keys (entries lost) and a foreign
 * Date through toJSON (a string). Foreign plain objects and arrays encode faithfully.
 */
function isForeignBuiltin(value: object): boolean {
  if (value instanceof Object) return false; // this realm's (or a subclass of one)
  return (
    types.isMap(value) || types.isSet(value) || types.isDate(value) || types.isRegExp(value) || types.isNativeError(value) ||
    ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value) || types.isBoxedPrimitive(value)
  );
}

function refuseForeignBuiltin(value: object): void {
  if (isForeignBuiltin(value)) {
    throw new InvalidValueError(
      `a ${Object.prototype.toString.call(value).slice(8, -1)} from another realm (a vm context) cannot be stored faithfully: copy it into this realm first`,
    );
  }
}

/**
 * The property name a Map key reads back as (the Map is decoded as a plain object, its
 * keys turned into strings as msgpackr's decoder does); undefined for an object key,
 * which the decodability check refuses (values.ts).
 */
function propertyName(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  if (typeof key === 'object' && key !== null) return undefined;
  return String(key);
}

/**
 * Containers msgpackr writes as their own enumerable keys, losing what they hold: a
 * boxed primitive (new Number(5) read back as {}, new String('ab') as { 0: 'a', 1: 'b' })
 * and a Map subclass (its entries dropped: {}). Refused rather than changed, unless
 * the container has a toJSON: msgpackr then writes what toJSON returns (a class
 * extending Number with toJSON() { return this.valueOf() } is stored as the number),
 * and the walk checks that value instead.
 */
function refuseLossyContainer(container: object, toJSON: unknown): void {
  if (typeof toJSON === 'function') return;
  if (types.isBoxedPrimitive(container)) {
    throw new InvalidValueError(`a boxed ${Object.prototype.toString.call(container).slice(8, -1)} cannot be stored faithfully (it reads back as an object of its own keys): store the primitive`);
  }
  if (container instanceof Map) {
    throw new InvalidValueError('a Map subclass cannot be stored faithfully (msgpack writes it by its own keys: its entries would be lost): copy it into a Map');
  }
  // No own keys either: each read back as {}, a Promise most often a missing await.
  if (types.isPromise(container) || types.isSharedArrayBuffer(container) || types.isWeakMap(container) || types.isWeakSet(container)) {
    const kind = Object.prototype.toString.call(container).slice(8, -1);
    throw new InvalidValueError(`a ${kind} cannot be stored (it would read back as {}, what it holds lost)${kind === 'Promise' ? ': await it and store its result' : ''}`);
  }
}

/**
 * msgpackr picks Array and Map by the `constructor` property alone: an object with an
 * own `constructor` of Array was written as an empty array (its properties lost), one
 * of Map made the encoder throw a TypeError ('map is not iterable'). Refused with
 * InvalidValueError instead.
 */
function refuseMisnamedContainer(container: object, constructor: unknown): void {
  const misnamed = (constructor === Array && !Array.isArray(container)) || (constructor === Map && !types.isMap(container));
  if (misnamed) {
    throw new InvalidValueError(`an object whose "constructor" is ${(constructor as { name: string }).name} but that is not one cannot be stored faithfully (msgpack would write it as one, its properties lost)`);
  }
}

const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array) as abstract new () => object;

/**
 * Not a leaf (ArrayBuffer.isView is a brand check) yet a typed array or DataView by its
 * prototype: a Proxy of one. Its bytes cannot be read through it; a Proxy of a Buffer
 * failed in Buffer#toJSON with a bare TypeError (no code).
 */
function refuseViewLookalike(container: object): void {
  if (container instanceof TYPED_ARRAY || container instanceof DataView) {
    throw new InvalidValueError('a Proxy of a typed array or DataView cannot be stored (its bytes cannot be read through it): store the array itself');
  }
}

function isLeafObject(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date;
}

/** One walk: the containers still to enter, with their depths, and the children seen so far. */
class ShapeWalk {
  readonly #maxElements: number;
  #elements = 0;
  readonly #pending: object[] = [];
  readonly #depths: number[] = [];

  constructor(maxElements: number) {
    this.#maxElements = maxElements;
  }

  run(root: object): void {
    this.#enter(root, 1);
    while (this.#pending.length > 0) {
      const container = this.#pending.pop()!;
      const depth = this.#depths.pop()!;
      this.#enter(container, depth);
    }
    assert(this.#depths.length === 0, 'shape walk stacks drained together');
  }

  /** Counts `count` more children against the bound (each encodes to at least one byte). */
  #count(count: number): void {
    this.#elements += count;
    if (this.#elements > this.#maxElements) throw new ValueTooLargeError(this.#elements, this.#maxElements);
  }

  /** Counts and checks one child of a container at `depth`. */
  #child(child: unknown, depth: number): void {
    this.#count(1);
    this.#visit(child, depth);
  }

  /** Checks one (counted) child; a child container is queued at depth + 1. Numbers and booleans cost nothing. */
  #visit(child: unknown, depth: number): void {
    if (typeof child !== 'object' && typeof child !== 'string') return;
    if (typeof child === 'string') {
      checkString(child, 'string');
      return;
    }
    if (child === null || typeof child !== 'object') return;
    refuseForeignBuiltin(child);
    if (isLeafObject(child)) return;
    if (depth >= VALUE_NESTING_DEPTH_MAX) {
      throw new InvalidValueError(`value is nested deeper than ${VALUE_NESTING_DEPTH_MAX} levels (or contains a cycle)`);
    }
    this.#pending.push(child);
    this.#depths.push(depth + 1);
  }

  #enter(container: object, depth: number): void {
    assert(depth <= VALUE_NESTING_DEPTH_MAX, 'containers are queued only within the nesting limit');
    const constructor = (container as { constructor?: unknown }).constructor;
    if (constructor === Object) return this.#ownKeys(container, depth);
    refuseMisnamedContainer(container, constructor);
    if (constructor === Array) return this.#elementsOf(container as unknown[], depth);
    if (constructor === Map) return this.#mapEntries(container as Map<unknown, unknown>, depth);
    refuseViewLookalike(container);
    const toJSON = (container as { toJSON?: unknown }).toJSON;
    refuseLossyContainer(container, toJSON);
    if (container instanceof Set && (constructor === Set || typeof toJSON !== 'function')) {
      for (const member of container) this.#child(member, depth);
      return;
    }
    if (container instanceof Error) {
      // msgpackr writes an Error as [name, message, cause].
      this.#child(container.name, depth);
      this.#child(container.message, depth);
      this.#child(container.cause, depth);
      return;
    }
    if (container instanceof RegExp) {
      this.#child(container.source, depth);
      return;
    }
    if (Array.isArray(container)) return this.#elementsOf(container, depth);
    if (typeof toJSON === 'function') return this.#child((toJSON as () => unknown).call(container), depth);
    this.#ownKeys(container, depth);
  }

  /** Own enumerable string keys, found as msgpackr finds them (for-in filtered by hasOwnProperty). */
  #ownKeys(container: object, depth: number): void {
    const record = container as Record<string, unknown>;
    for (const key in record) {
      if (!hasOwn.call(record, key)) continue;
      if (key === '__proto__') {
        throw new InvalidValueError('an object with an own "__proto__" key cannot be stored faithfully (msgpack decoding renames it)');
      }
      checkString(key, 'key');
      this.#child(record[key], depth);
    }
  }

  #elementsOf(array: readonly unknown[], depth: number): void {
    this.#count(array.length);
    for (let index = 0; index < array.length; index++) this.#visit(array[index], depth);
  }

  /**
   * Only an exact Map (a subclass is refused: refuseLossyContainer). It reads back as a
   * plain object whose property names are the keys as strings (msgpackr's decoding), so
   * two keys with one name (1 and '1', null and 'null') would keep only the last entry,
   * and the key "__proto__" would be renamed: both are refused.
   */
  #mapEntries(map: Map<unknown, unknown>, depth: number): void {
    const names = new Set<string>();
    for (const [key, entry] of map) {
      const name = propertyName(key);
      if (name !== undefined) {
        if (name === '__proto__') {
          throw new InvalidValueError('a Map with the key "__proto__" cannot be stored faithfully (it reads back as an object, and msgpack decoding renames that key)');
        }
        if (names.has(name)) {
          throw new InvalidValueError(`a Map with two keys named ${JSON.stringify(name)} cannot be stored faithfully: it reads back as a plain object, which keeps only one of them`);
        }
        names.add(name);
      }
      this.#child(key, depth);
      this.#child(entry, depth);
    }
  }
}

/**
 * Refuses a value nested deeper than VALUE_NESTING_DEPTH_MAX, with an own
 * "__proto__" key or with a lone surrogate in any string (InvalidValueError), or
 * with more than `maxElements` elements (ValueTooLargeError). Primitives other
 * than strings return at once; a string costs one native well-formedness scan.
 */
export function checkValueShape(value: unknown, maxElements: number): void {
  if (typeof value === 'string') return checkString(value, 'string');
  if (value === null || typeof value !== 'object') return;
  refuseForeignBuiltin(value);
  if (isLeafObject(value)) return;
  new ShapeWalk(maxElements).run(value);
}
