/**
 * src/store/options.ts: `syncMode` configures the default file system only. Given beside
 * `fileSystem` it was silently ignored (the given file system makes its own datasync
 * calls): a store opened with { fileSystem, syncMode: 'inline' } synced however that
 * file system did. The pair is refused now, naming syncMode, before the disk is touched.
 * Options given in a Map or a Set (or an array) were ignored the same way: their entries
 * are not own properties, so `openStore(dir, new Map([['repair', true]]))` opened without
 * repair. Refused too, naming options.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, openStore } from '../src/index.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { resolveOptions } from '../src/store/options.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('options that would be ignored', () => {
  it('syncMode beside fileSystem is refused with InvalidOptionError naming syncMode, and nothing is created', async () => {
    for (const syncMode of ['adaptive', 'threadpool', 'inline'] as const) {
      const dir = join(temporaryDirectory(), 'store');
      const error = await openStore(dir, { fileSystem: new NodeFileSystem({ syncMode: 'threadpool' }), syncMode }).then(
        async (store) => { await store.close(); return undefined; },
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ code: 'LADYBUG_INVALID_OPTION', option: 'syncMode' });
      expect(existsSync(dir)).toBe(false);
    }
  });

  it('syncMode or fileSystem alone is accepted; a bad fileSystem is still named first', () => {
    const fileSystem = new NodeFileSystem();
    expect(resolveOptions({ fileSystem }).fileSystem).toBe(fileSystem);
    expect(resolveOptions({ syncMode: 'inline' }).fileSystem).toBeInstanceOf(NodeFileSystem);
    expect(resolveOptions({ fileSystem: undefined, syncMode: 'inline' }).fileSystem).toBeInstanceOf(NodeFileSystem);
    expect(() => resolveOptions({ fileSystem: {}, syncMode: 'inline' })).toThrow(expect.objectContaining({ option: 'fileSystem' }));
  });

  it('options in a Map, a Set or an array are refused, not ignored', async () => {
    for (const options of [new Map<string, unknown>([['syncMode', 'inline'], ['fileSystem', new NodeFileSystem()]]), new Map([['repair', true]]), new Set(['repair']), [], ['repair']]) {
      const dir = join(temporaryDirectory(), 'store');
      const error = await openStore(dir, options as never).then(async (store) => { await store.close(); return undefined; }, (caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'LADYBUG_INVALID_OPTION', option: 'options' });
      expect(existsSync(dir)).toBe(false);
    }
  });
});
