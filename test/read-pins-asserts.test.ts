/**
 * ReadPins' assertions (src/memory/read-pins.ts) still refuse a bad pin and an unpin
 * without a pin, naming the version, now that their messages are built only on
 * failure (issue 12: a template argument to assert() was built at every call).
 */
import { describe, expect, it } from 'vitest';
import { AssertionFailedError } from '../src/errors.js';
import { ReadPins } from '../src/memory/read-pins.js';

describe('ReadPins assertions', () => {
  it('refuses a version that is not a non-negative integer, naming it', () => {
    const pins = new ReadPins();
    for (const version of [-1, 1.5, Number.NaN]) {
      expect(() => pins.pin(version)).toThrow(AssertionFailedError);
      expect(() => pins.pin(version)).toThrow(`pinned version ${version} is a non-negative integer`);
    }
    expect(pins.count).toBe(0);
  });

  it('refuses an unpin without a pin, naming the version; pins and unpins that match leave nothing', () => {
    const pins = new ReadPins();
    pins.pin(7);
    pins.pin(7);
    pins.pin(9);
    expect(pins.oldest()).toBe(7);
    pins.unpin(7);
    pins.unpin(7);
    expect(() => pins.unpin(7)).toThrow(AssertionFailedError);
    expect(() => pins.unpin(8)).toThrow('unpin of version 8 that is not pinned');
    expect(pins.count).toBe(1);
    expect(pins.oldest()).toBe(9);
    pins.unpin(9);
    expect(pins.count).toBe(0);
    expect(pins.oldest()).toBe(Infinity);
  });
});
