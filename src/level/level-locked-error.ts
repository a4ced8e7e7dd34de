/**
 * LevelLockedError: the cause of a level open() refused because another handle (in this
 * process or another) holds the store, with the code abstract-level documents for it,
 * LEVEL_LOCKED, which code written for classic-level checks
 * (`err.cause.code === 'LEVEL_LOCKED'`). Its own cause is the store's StoreLockedError
 * (LADYBUG_STORE_LOCKED: the holder's pid and host, the lock file).
 */
import type { StoreLockedError } from '../errors.js';

export class LevelLockedError extends Error {
  readonly code = 'LEVEL_LOCKED';

  constructor(cause: StoreLockedError) {
    super(cause.message, { cause });
    this.name = 'LevelLockedError';
  }
}
