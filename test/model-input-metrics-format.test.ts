/**
 * metrics({ format: null }) returned the data form as if no format were given: `??`
 * took null for absent, where README refuses an option of the wrong type (and every
 * other option of the store refuses null). Now InvalidOptionError 'format'.
 */
import { expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

it('metrics({ format: null }) is refused with InvalidOptionError format; the two formats still answer', async () => {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
  let thrown: unknown;
  try {
    store.metrics({ format: null as never });
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidOptionError);
  expect(thrown).toMatchObject({ code: ErrorCode.InvalidOption, option: 'format' });
  expect(typeof store.metrics({ format: 'prometheus' })).toBe('string');
  expect(typeof store.metrics()).toBe('object');
  await store.close();
});
