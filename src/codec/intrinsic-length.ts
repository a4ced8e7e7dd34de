/**
 * The length of a Uint8Array as its internal slot has it: an own `length` property or a
 * subclass's getter may say anything, and bytes are copied by the real length
 * (latin1Slice, TypedArray#set), so a key or value measured by the property was cut
 * short, or taken with bytes past its end. A detached array's length is 0 (isDetached).
 * REQUIRES: types.isUint8Array(bytes) (a real one: a Proxy of one has no such slot).
 */
import { assert } from '../util/assert.js';

const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const lengthGetter = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'length')?.get;
const bufferGetter = Object.getOwnPropertyDescriptor(typedArrayPrototype, 'buffer')?.get;
assert(lengthGetter !== undefined && bufferGetter !== undefined, '%TypedArray%.prototype.length and .buffer are accessors (every supported Node release)');

export function intrinsicLength(bytes: Uint8Array): number {
  return lengthGetter!.call(bytes) as number;
}

/**
 * Whether the array's buffer was detached (transferred): its length reads 0, but its
 * bytes are gone rather than none, and copying it throws. Node 20 has no
 * ArrayBuffer#detached; slice() throws on a detached buffer only. Called for empty arrays only.
 */
export function isDetached(bytes: Uint8Array): boolean {
  try {
    (bufferGetter!.call(bytes) as ArrayBuffer).slice(0, 0);
    return false;
  } catch {
    return true;
  }
}
