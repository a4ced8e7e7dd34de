/**
 * One process, one directory, two handles in sequence: an openStore() of a directory
 * whose handle is still closing must not take the lock over from under it.
 *
 * The closing handle's release rewrites its lock file as released (temporary file,
 * fsync, rename). An opener that reads the lock file before that rename finds a holder
 * with this process's pid: it must count as live (the handle is still closing) and be
 * refused with StoreLockedError, not judged "abandoned by a handle in this process"
 * and taken over, which made close() reject with IoError ESTORELOCKLOST and warned
 * that another process had taken the lock over. Once close() resolved, the next open
 * succeeds. The release's rename is held with a forwarding file system so the open
 * runs inside that window every time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openStore, type Store, StoreLockedError } from '../src/index.js';
import type { FileHandle, FileSystem } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';

/**
 * Holds one rename or link whose target or source matches `pattern`, before or after the
 * inner call, until the test lets it go (once: the next such call is not held).
 */
class NameChangeGate extends ForwardingFileSystem {
  #hold: { call: 'rename' | 'link'; pattern: RegExp; when: 'before' | 'after' } | undefined;
  #reached: (() => void) | undefined;
  #go: (() => void) | undefined;

  /** Arms the hold; resolves once a held call is waiting. */
  hold(call: 'rename' | 'link', pattern: RegExp, when: 'before' | 'after'): Promise<void> {
    this.#hold = { call, pattern, when };
    return new Promise<void>((resolve) => (this.#reached = resolve));
  }

  letGo(): void {
    this.#go?.();
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  override async rename(from: string, to: string): Promise<void> {
    await this.#held('rename', `${from} ${to}`, () => this.inner.rename(from, to));
  }

  override async link(existingPath: string, newPath: string): Promise<void> {
    await this.#held('link', `${existingPath} ${newPath}`, () => this.inner.link(existingPath, newPath));
  }

  async #held(call: 'rename' | 'link', names: string, run: () => Promise<void>): Promise<void> {
    const hold = this.#hold;
    if (hold === undefined || hold.call !== call || !hold.pattern.test(names)) return run();
    this.#hold = undefined;
    const waiting = new Promise<void>((resolve) => (this.#go = resolve));
    if (hold.when === 'after') await run();
    this.#reached?.();
    await waiting;
    if (hold.when === 'before') await run();
  }
}

afterEach(() => removeTemporaryDirectories());

describe('an open of a directory whose handle is closing', () => {
  it('is refused with StoreLockedError while the release is under way, and the close succeeds', async () => {
    const directory = join(temporaryDirectory(), 'store');
    const gate = new NameChangeGate(new NodeFileSystem() as FileSystem);
    const first = await openStore(directory, { fileSystem: gate });
    await first.put('kept', 1);
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => { warnings.push(warning.message); };
    process.on('warning', onWarning);
    try {
      const reached = gate.hold('rename', /LOCK\.tmp-[0-9a-f]+-release /, 'before');
      const closing = first.close();
      await reached; // the release's rename is waiting: the lock file still says held
      const during = await openStore(directory).then(
        async (store) => { await store.close(); return 'opened'; },
        (error: unknown) => error,
      );
      gate.letGo();
      const closed = await closing.then(() => 'closed', (error: unknown) => error);
      expect(closed).toBe('closed');
      expect(during).toBeInstanceOf(StoreLockedError);
      expect((during as StoreLockedError).holderPid).toBe(process.pid);
      // After close() resolved, the directory opens, with what the first handle wrote.
      const second = await openStore(directory);
      expect(await second.get('kept')).toBe(1);
      await second.close();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings.filter((message) => message.includes('taken over'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('two opens of one directory, the second reading the lock file the first has just linked: exactly one opens', async () => {
    const directory = join(temporaryDirectory(), 'store');
    await (await openStore(directory)).close(); // LOCK.1, released
    const first = new NameChangeGate(new NodeFileSystem() as FileSystem);
    const second = new NameChangeGate(new NodeFileSystem() as FileSystem);
    // The first opener's link of LOCK.2 is done, and it has not gone on yet.
    const firstLinked = first.hold('link', /LOCK\.0*2$/, 'after');
    const firstOpen = openStore(directory, { fileSystem: first }).then((store) => store, (error: unknown) => error);
    await firstLinked;
    // The second reads LOCK.2 (this process's pid) and, if it judges it free, goes on to link LOCK.3: held before.
    const secondLinking = second.hold('link', /LOCK\.0*3$/, 'before');
    const secondOpen = openStore(directory, { fileSystem: second }).then((store) => store, (error: unknown) => error);
    await Promise.race([secondLinking, secondOpen]);
    first.letGo();
    const firstOutcome = await firstOpen;
    second.letGo();
    const secondOutcome = await secondOpen;
    const opened = [firstOutcome, secondOutcome].filter((outcome): outcome is Store => !(outcome instanceof Error));
    for (const store of opened) await store.close().catch(() => undefined);
    expect(opened.map((store) => (store === firstOutcome ? 'first' : 'second'))).toEqual(['first']);
    expect(secondOutcome).toBeInstanceOf(StoreLockedError);
  });

  it('racing close() with openStore() of the same directory: close resolves, the open opens or is refused, never takes the lock over', async () => {
    const directory = join(temporaryDirectory(), 'store');
    for (let round = 0; round < 6; round++) {
      const store = await openStore(directory);
      await store.put('round', round);
      const [closed, opened] = await Promise.allSettled([store.close(), openStore(directory)]);
      expect(closed.status, `round ${round}: ${closed.status === 'rejected' ? String(closed.reason) : ''}`).toBe('fulfilled');
      if (opened.status === 'fulfilled') {
        expect(await opened.value.get('round')).toBe(round);
        await opened.value.close();
      } else {
        expect(opened.reason).toBeInstanceOf(StoreLockedError);
      }
    }
  });
});
