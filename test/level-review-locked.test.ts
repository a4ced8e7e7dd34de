/**
 * A level database whose store another handle holds open is refused as abstract-level
 * documents it and classic-level does: open() rejects with LEVEL_DATABASE_NOT_OPEN whose
 * cause has the code LEVEL_LOCKED (abstract-level's README: "if (err.cause &&
 * err.cause.code === 'LEVEL_LOCKED') // Another process or instance has opened the
 * database"). The store's own StoreLockedError (LADYBUG_STORE_LOCKED, the holder's pid)
 * is that cause's cause.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { ErrorCode, StoreLockedError } from '../src/errors.js';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

interface Opened {
  open(): Promise<void>;
  close(): Promise<void>;
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  readonly status: string;
}

const databases: Record<string, (location: string) => Opened> = {
  ladybug: (location) => new LadybugLevel<string, string>(location),
  classic: (location) => new ClassicLevel<string, string>(location),
};

/** The codes of an open() refusal, outside in. */
function codes(error: unknown): unknown[] {
  const found: unknown[] = [];
  for (let current = error as { code?: unknown; cause?: unknown } | undefined; current !== undefined && found.length < 2; current = current.cause as typeof current) found.push(current.code);
  return found;
}

describe('level open of a store another handle holds', () => {
  it('rejects with LEVEL_DATABASE_NOT_OPEN caused by LEVEL_LOCKED, as classic-level does, and opens once the holder closed', async () => {
    const results: Record<string, unknown> = {};
    let storeError: unknown;
    for (const [side, make] of Object.entries(databases)) {
      const location = temporaryDirectory();
      const holder = make(location);
      await holder.put('k', 'v');
      const second = make(location);
      const refused: unknown = await second.open().then(() => undefined, (error: unknown) => error);
      const statusAfter = second.status;
      await holder.close();
      await second.open();
      results[side] = { codes: codes(refused), statusAfter, value: await second.get('k') };
      await second.close();
      if (side === 'ladybug') storeError = (refused as { cause?: { cause?: unknown } }).cause?.cause;
    }
    expect(results['ladybug']).toEqual({ codes: ['LEVEL_DATABASE_NOT_OPEN', 'LEVEL_LOCKED'], statusAfter: 'closed', value: 'v' });
    expect(results['ladybug']).toEqual(results['classic']);
    expect(storeError).toBeInstanceOf(StoreLockedError);
    expect(storeError).toMatchObject({ code: ErrorCode.StoreLocked, holderPid: process.pid });
  });
});
