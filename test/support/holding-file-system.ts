/**
 * A file system for tests that hold reads of chosen files (run files, usually) at a point
 * the test picks: every call passes to `inner`, and while hold() is on, each read of a
 * path in `held` waits until letGo(). readSync is hidden, so every read is a promise
 * the hold can stop. Use proxy() as the store's fileSystem.
 */
import type { FileHandle, FileSystem } from '../../src/fs/file-system.js';

/** Passes every call to `inner`; reads of the paths in `held` wait while the hold is on (no readSync: every read is a promise). */
export class HoldingFileSystem {
  readonly held = new Set<string>();
  #release: Promise<void> | undefined;
  #resolve: (() => void) | undefined;
  heldReads = 0;

  constructor(readonly inner: FileSystem) {}

  hold(): void {
    this.#release = new Promise((resolve) => (this.#resolve = resolve));
  }

  letGo(): void {
    this.#resolve?.();
    this.#release = undefined;
  }

  proxy(): FileSystem {
    return new Proxy(this.inner, {
      get: (target, name) => {
        if (name === 'open') return async (path: string, mode: never) => this.#handle(path, await target.open(path, mode));
        const member = Reflect.get(target, name) as unknown;
        return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
      },
    });
  }

  #handle(path: string, handle: FileHandle): FileHandle {
    return new Proxy(handle, {
      get: (target, name) => {
        if (name === 'readSync') return undefined;
        if (name === 'read') {
          return async (buffer: Uint8Array, offset: number, length: number, position: number) => {
            if (this.#release !== undefined && this.held.has(path)) {
              this.heldReads++;
              await this.#release;
            }
            return target.read(buffer, offset, length, position);
          };
        }
        const member = Reflect.get(target, name) as unknown;
        return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
      },
    });
  }
}
