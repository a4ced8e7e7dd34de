/**
 * src/store/options.ts: every openStore option is validated once, at open, and a bad
 * one is refused with InvalidOptionError naming it, before anything touches the disk.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { KEY_BYTES_MAX, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN, VALUE_BYTES_DEFAULT_MAX, VALUE_BYTES_MAX_MIN } from '../src/limits.js';
import { commitBytesLimit, resolveOptions } from '../src/store/options.js';
import { COMMIT_HEADER_BYTES, PUT_OVERHEAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

function invalidOption(action: () => unknown): InvalidOptionError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
    expect((error as InvalidOptionError).code).toBe('LADYBUG_INVALID_OPTION');
    return error as InvalidOptionError;
  }
  throw new Error('expected InvalidOptionError');
}

function expectRefused(options: Record<string, unknown>, option: string): void {
  const error = invalidOption(() => resolveOptions(options));
  expect(error.option).toBe(option);
  expect(error.message).toContain(`option ${option}:`);
}

const largestValue = (segmentSizeBytes: number) =>
  segmentSizeBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - COMMIT_HEADER_BYTES - PUT_OVERHEAD_BYTES - KEY_BYTES_MAX;

describe('defaults', () => {
  it('are applied for every option left out', () => {
    const resolved = resolveOptions(undefined);
    expect(resolved).toMatchObject({
      maxValueBytes: VALUE_BYTES_DEFAULT_MAX,
      maxVersionsPerKey: Infinity,
      segmentSizeBytes: SEGMENT_BYTES_DEFAULT,
      keyEncoding: 'utf8',
      repair: false,
      debug: false,
      memoryBudgetBytes: 256 * 1024 * 1024,
      walCheckpointBytes: 64 * 1024 * 1024,
      checkpointOnClose: true,
    });
    expect(resolved.fileSystem).toBeInstanceOf(NodeFileSystem);
    expect(resolveOptions({})).toMatchObject({ maxValueBytes: VALUE_BYTES_DEFAULT_MAX });
  });

  it('the default maxValueBytes shrinks to what a small segment can hold', () => {
    expect(resolveOptions({ segmentSizeBytes: SEGMENT_BYTES_MIN }).maxValueBytes).toBe(largestValue(SEGMENT_BYTES_MIN));
    expect(resolveOptions({ segmentSizeBytes: 1024 * 1024 }).maxValueBytes).toBe(largestValue(1024 * 1024));
  });

  it('keeps given valid values', () => {
    const fileSystem = new FaultFileSystem(1);
    const resolved = resolveOptions({
      maxValueBytes: 4096, maxVersionsPerKey: 3, segmentSizeBytes: 32 * 1024, keyEncoding: 'binary',
      repair: true, fileSystem, debug: true, snapshotMaxAgeMs: 5000, transactionLifetimeMs: 2000,
      memoryBudgetBytes: 1024 * 1024, walCheckpointBytes: 128 * 1024, checkpointOnClose: false,
      scrubIntervalMs: 60_000, scrubBytesPerSecond: 1024 * 1024, backgroundThreadNice: 12,
    });
    expect(resolved).toEqual({
      maxValueBytes: 4096, maxVersionsPerKey: 3, segmentSizeBytes: 32 * 1024, keyEncoding: 'binary', repair: true, fileSystem, debug: true,
      snapshotMaxAgeMs: 5000, transactionLifetimeMs: 2000, memoryBudgetBytes: 1024 * 1024, walCheckpointBytes: 128 * 1024, checkpointOnClose: false,
      authorize: undefined, leaseTtlMsMax: 24 * 60 * 60 * 1000,
      retainVersionsMs: 0, scrubIntervalMs: 60_000, scrubBytesPerSecond: 1024 * 1024, backgroundThreadNice: 12,
    });
    expect(resolveOptions({}).scrubIntervalMs).toBeUndefined();
    expect(resolveOptions({ maxVersionsPerKey: Infinity }).maxVersionsPerKey).toBe(Infinity);
    expect(resolveOptions({ maxVersionsPerKey: 1 }).maxVersionsPerKey).toBe(1);
  });

  it('memoryBudgetBytes, walCheckpointBytes and checkpointOnClose are checked', () => {
    for (const bad of [0, 1024, -1, 1.5, '1', 2 ** 60]) expectRefused({ memoryBudgetBytes: bad }, 'memoryBudgetBytes');
    for (const bad of [0, 1024, 1.5, null]) expectRefused({ walCheckpointBytes: bad }, 'walCheckpointBytes');
    for (const bad of [1, 'yes', null]) expectRefused({ checkpointOnClose: bad }, 'checkpointOnClose');
  });

  it('scrubIntervalMs and scrubBytesPerSecond are checked', () => {
    for (const bad of [0, -1, 1.5, '1000', null, Infinity]) expectRefused({ scrubIntervalMs: bad }, 'scrubIntervalMs');
    for (const bad of [0, -1, 1.5, '1', null, Infinity]) expectRefused({ scrubBytesPerSecond: bad }, 'scrubBytesPerSecond');
  });

  it('commitBytesLimit is what one record in an empty segment holds', () => {
    expect(commitBytesLimit(SEGMENT_BYTES_MIN)).toBe(SEGMENT_BYTES_MIN - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES - COMMIT_HEADER_BYTES);
  });
});

describe('each option is validated and named', () => {
  it('options itself must be an object', () => {
    for (const bad of [null, 5, 'x', true]) expectRefused(bad as unknown as Record<string, unknown>, 'options');
  });

  it('unknown options are refused by name (a typo is not silently ignored)', () => {
    expectRefused({ maxValueByte: 10 }, 'maxValueByte');
    expectRefused({ segmentSize: 10 }, 'segmentSize');
  });

  it('maxValueBytes: an integer in range that fits a segment', () => {
    for (const bad of [1.5, '4096', NaN, Infinity, null, VALUE_BYTES_MAX_MIN - 1, 0, -1, VALUE_BYTES_DEFAULT_MAX + 1]) {
      expectRefused({ maxValueBytes: bad }, 'maxValueBytes');
    }
    expect(resolveOptions({ maxValueBytes: VALUE_BYTES_MAX_MIN }).maxValueBytes).toBe(VALUE_BYTES_MAX_MIN);
    expect(resolveOptions({ maxValueBytes: VALUE_BYTES_DEFAULT_MAX }).maxValueBytes).toBe(VALUE_BYTES_DEFAULT_MAX);
    // Too large for the segment: refused, naming maxValueBytes; the largest that fits is accepted.
    expectRefused({ segmentSizeBytes: SEGMENT_BYTES_MIN, maxValueBytes: largestValue(SEGMENT_BYTES_MIN) + 1 }, 'maxValueBytes');
    expect(resolveOptions({ segmentSizeBytes: SEGMENT_BYTES_MIN, maxValueBytes: largestValue(SEGMENT_BYTES_MIN) }).maxValueBytes).toBe(largestValue(SEGMENT_BYTES_MIN));
  });

  it('maxVersionsPerKey: a positive integer or Infinity', () => {
    for (const bad of [0, -1, 1.5, NaN, -Infinity, '2', null, true]) expectRefused({ maxVersionsPerKey: bad }, 'maxVersionsPerKey');
  });

  it('segmentSizeBytes: an integer between the bounds', () => {
    for (const bad of [SEGMENT_BYTES_MIN - 1, SEGMENT_BYTES_MAX + 1, 16384.5, '65536', NaN, null]) {
      expectRefused({ segmentSizeBytes: bad }, 'segmentSizeBytes');
    }
    expect(resolveOptions({ segmentSizeBytes: SEGMENT_BYTES_MAX }).segmentSizeBytes).toBe(SEGMENT_BYTES_MAX);
  });

  it("keyEncoding: 'utf8' or 'binary'", () => {
    for (const bad of ['hex', 'UTF8', '', 1, null]) expectRefused({ keyEncoding: bad }, 'keyEncoding');
  });

  it('repair and debug: booleans', () => {
    for (const bad of ['true', 1, 0, null]) {
      expectRefused({ repair: bad }, 'repair');
      expectRefused({ debug: bad }, 'debug');
    }
  });

  it("syncMode: 'threadpool' or 'inline'", () => {
    for (const bad of ['sync', 'Inline', 1, null]) expectRefused({ syncMode: bad }, 'syncMode');
  });

  it('fileSystem: an object implementing the interface', () => {
    for (const bad of [{}, null, 'fs', { open: () => undefined }, { syncDirectory: () => undefined }]) {
      expectRefused({ fileSystem: bad }, 'fileSystem');
    }
  });
});

describe('openStore', () => {
  it('rejects bad options and a bad directory argument with InvalidOptionError', async () => {
    const fileSystem = new FaultFileSystem(1);
    await expect(openStore('/db', { fileSystem, maxVersionsPerKey: 0 })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'maxVersionsPerKey' });
    await expect(openStore('', { fileSystem })).rejects.toMatchObject({ code: ErrorCode.InvalidOption, option: 'directory' });
    await expect(openStore(42 as unknown as string, { fileSystem })).rejects.toMatchObject({ option: 'directory' });
    // Nothing was created in the file system.
    expect(fileSystem.listPaths().filter((path) => path.startsWith('/db'))).toEqual([]);
  });

  it('creates nothing on the real disk when an option is refused', async () => {
    const parent = temporaryDirectory();
    const directory = join(parent, 'store');
    await expect(openStore(directory, { keyEncoding: 'base64' as never })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(openStore(directory, { segmentSizeBytes: 1 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(existsSync(directory)).toBe(false);
    const store = await openStore(directory, { segmentSizeBytes: SEGMENT_BYTES_MIN });
    expect(existsSync(join(directory, 'wal'))).toBe(true);
    await store.close();
  });

  it('applies the options: maxValueBytes and keyEncoding take effect', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1), segmentSizeBytes: SEGMENT_BYTES_MIN, maxValueBytes: 2048, keyEncoding: 'binary' });
    await expect(store.put('k', 'x'.repeat(2100))).rejects.toMatchObject({ code: ErrorCode.ValueTooLarge, maxBytes: 2048 });
    await store.put('k', 'fits');
    const keys: unknown[] = [];
    for await (const [key] of store.scan()) keys.push(key);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toBeInstanceOf(Uint8Array);
    expect([...(keys[0] as Uint8Array)]).toEqual([0x6b]);
    await store.close();
  });
});
