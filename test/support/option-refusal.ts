/**
 * The InvalidOptionError a call rejects with (a test fails if it resolves or rejects
 * with anything else): shared by the tests of options that must be refused, never ignored.
 */
import { expect } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../../src/index.js';

export async function optionRefusal(call: () => Promise<unknown>): Promise<InvalidOptionError> {
  const error = await call().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
  return error as InvalidOptionError;
}
