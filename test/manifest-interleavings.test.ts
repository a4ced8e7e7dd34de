/**
 * Seed race 9 (check-then-increment of the edit chain): two apply() calls at the
 * chain bound, the second issued while the first is inside its datasync, make exactly
 * one full rewrite and lose neither edit.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { MANIFEST_DIRECTORY, openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

/** While armed, every datasync waits until the test opens the gate. */
class DatasyncGate extends ForwardingFileSystem<FaultFileSystem> {
  armed = false;
  heldCount = 0;
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  #arrived: Array<() => void> = [];

  arm(): void {
    this.armed = true;
    this.#open = new Promise((resolve) => {
      this.#release = resolve;
    });
  }

  release(): void {
    this.armed = false;
    this.#release();
  }

  /** Resolves once a datasync is held at the gate. */
  async firstHeld(): Promise<void> {
    while (this.heldCount === 0) await new Promise<void>((resolve) => this.#arrived.push(resolve));
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, {
      datasync: async () => {
        if (this.armed) {
          this.heldCount += 1;
          this.#arrived.splice(0).forEach((resolve) => resolve());
          await this.#open;
        }
        return handle.datasync();
      },
    });
  }
}

describe('manifest: seed race 9, the edit chain check and increment', () => {
  it('two concurrent edits at the bound: exactly one rewrite, no edit lost', async () => {
    const inner = new FaultFileSystem(5);
    await inner.mkdir(STORE_DIRECTORY);
    await inner.syncDirectory('/');
    const fileSystem = new DatasyncGate(inner);
    const manifest = await openManifest(fileSystem, { editsMax: 2 });
    await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())] });
    await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())] });
    expect(manifest.stats()).toMatchObject({ editsSinceRewrite: 2, rewrites: 1 });

    fileSystem.arm();
    const third = manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())], flushedVersion: 3 });
    await fileSystem.firstHeld();
    // The first edit is inside its I/O, at the bound; the second arrives now.
    const fourth = manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())], flushedVersion: 4 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(fileSystem.heldCount).toBe(1);
    fileSystem.release();
    await Promise.all([third, fourth]);

    expect(manifest.stats()).toMatchObject({ editsSinceRewrite: 1, rewrites: 2 });
    const expected = plainState(manifest.state);
    expect(expected.runs.map((run) => run.runId)).toEqual([1, 2, 3, 4]);
    expect(expected.flushedVersion).toBe(4);
    expect((await inner.readdir(MANIFEST_DIRECTORY)).sort()).toEqual(['MANIFEST-0000000002.a', 'MANIFEST-0000000002.b']);
    const reopened = await openManifest(inner.crash('drop-unsynced'), { create: false, editsMax: 2 });
    expect(plainState(reopened.state)).toEqual(expected);
    expect(reopened.stats().editsSinceRewrite).toBe(1);
  });
});
