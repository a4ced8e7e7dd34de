/**
 * A level database opened with createIfMissing: false on a store whose wal/ directory is
 * gone (manifest and runs still there) reports the damage, as every other open of it does
 * (CorruptionError from openStore, as the cause of abstract-level's LEVEL_DATABASE_NOT_OPEN),
 * not "does not exist": the adapter took a store to exist only when it had wal/, so the
 * user was told the path held no database (and might look elsewhere, or create one) when it
 * holds one whose unflushed commits are lost. Nothing is created either way.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('level open of a store whose wal/ is gone', () => {
  it('createIfMissing: false reports the corruption, creates nothing; a missing location is still "does not exist"', async () => {
    const location = temporaryDirectory();
    const db = new LadybugLevel<string, string>(location);
    for (let index = 0; index < 10; index++) await db.put(`k${index}`, 'v');
    await db.close();
    rmSync(join(location, 'wal'), { recursive: true });
    const before = readdirSync(location).filter((name) => !name.startsWith('LOCK')).sort();
    const again = new LadybugLevel<string, string>(location, { createIfMissing: false });
    const error = await again.open().then(() => undefined, (caught: unknown) => caught) as { code?: string; cause?: { code?: string; message?: string } };
    expect(error?.code).toBe('LEVEL_DATABASE_NOT_OPEN');
    expect(error.cause?.code).toBe('LADYBUG_CORRUPTION');
    expect(error.cause?.message).toMatch(/WAL directory is missing/);
    expect(readdirSync(location).filter((name) => !name.startsWith('LOCK')).sort()).toEqual(before);
    const missing = new LadybugLevel<string, string>(join(location, 'nothing-here'), { createIfMissing: false });
    const refused = await missing.open().then(() => undefined, (caught: unknown) => caught) as { cause?: { code?: string; message?: string } };
    expect(refused.cause?.code).toBe('LADYBUG_INVALID_OPTION');
    expect(refused.cause?.message).toMatch(/does not exist/);
  });
});
