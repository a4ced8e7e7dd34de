/**
 * Review 10 (a new user's paths): openStore('/proc/x') never settled. The store's
 * directory creation called node's mkdir with { recursive: true }, which retries for
 * ever on a thread-pool thread where mkdir fails with ENOENT although the parent exists
 * (under /proc or /sys): the open hung, a CPU spinning, instead of failing. The
 * directories are now made one level at a time, so the open rejects with IoError
 * (LADYBUG_IO, errno ENOENT). NodeFileSystem#mkdir keeps its contract otherwise: missing
 * parents made, an existing directory accepted, a file in the way refused.
 *
 * The open is raced against a 10 s timer: before the fix the timer wins (the spinning
 * thread-pool thread ends with this test file's worker process).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { ErrorCode, IoError, openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterAll(() => removeTemporaryDirectories());

const HUNG = Symbol('hung');

async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG | { rejected: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<typeof HUNG>((resolve) => {
    timer = setTimeout(() => resolve(HUNG), ms);
  });
  try {
    return await Promise.race([promise.then((value) => value, (error: unknown) => ({ rejected: error })), hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe('review10: a store path where mkdir fails with ENOENT under an existing parent', () => {
  it.skipIf(!existsSync('/proc/self'))('openStore under /proc rejects with IoError ENOENT instead of hanging', async () => {
    const outcome = await settledWithin(openStore('/proc/ladybug-review10/store'), 10_000);
    expect(outcome).not.toBe(HUNG);
    const error = (outcome as { rejected: unknown }).rejected;
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).code).toBe(ErrorCode.Io);
    expect((error as IoError).errno).toBe('ENOENT');
  }, 30_000);

  it('NodeFileSystem#mkdir makes missing parents, accepts an existing directory, refuses a file in the way', async () => {
    const fileSystem = new NodeFileSystem();
    const root = temporaryDirectory('ladybug-review10-mkdir-');
    const deep = join(root, 'a', 'b', 'c');
    await fileSystem.mkdir(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    await fileSystem.mkdir(deep);
    await fileSystem.mkdir(join(root, 'a'));
    expect(statSync(deep).isDirectory()).toBe(true);

    writeFileSync(join(root, 'file'), 'x');
    await expect(fileSystem.mkdir(join(root, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fileSystem.mkdir(join(root, 'file', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });

    mkdirSync(join(root, 'concurrent'));
    await Promise.all([1, 2, 3, 4].map((n) => fileSystem.mkdir(join(root, 'concurrent', 'x', `y${n % 2}`))));
    expect(statSync(join(root, 'concurrent', 'x', 'y0')).isDirectory() && statSync(join(root, 'concurrent', 'x', 'y1')).isDirectory()).toBe(true);
  });
});
