/**
 * Helpers of the stripe tests: where a run's pages are, damaging a page durably,
 * and a FileSystem wrapper whose reads of chosen byte ranges fail with EIO (a bad
 * sector that stays bad).
 */
import { Buffer } from 'node:buffer';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle, type FileSystem, type OpenMode } from '../src/fs/file-system.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import type { RunReader } from '../src/run/run-reader.js';
import { RUNS_DIRECTORY } from './run-helpers.js';

export const runPath = (descriptor: RunDescriptor) => `${RUNS_DIRECTORY}/${descriptor.fileName}`;

/** Physical pages of the striped area (every data, padding and parity page; not the footer). */
export function stripedPages(descriptor: RunDescriptor): number {
  return descriptor.fileBytes / RUN_PAGE_BYTES - 1;
}

export function describePage(reader: RunReader, physicalPage: number, stripeDataPages = 8): { stripe: number; role: 'data' | 'padding' | 'parity' } {
  const stripe = Math.floor(physicalPage / (stripeDataPages + 1));
  const position = physicalPage % (stripeDataPages + 1);
  if (position === stripeDataPages) return { stripe, role: 'parity' };
  const logicalPages = (reader.footer.filterOffset + reader.footer.filterLength) / RUN_PAGE_BYTES;
  return { stripe, role: stripe * stripeDataPages + position < logicalPages ? 'data' : 'padding' };
}

/** Overwrites bytes durably (write + datasync); returns what was there. */
export async function overwriteDurably(fileSystem: FaultFileSystem, path: string, bytes: Uint8Array, position: number): Promise<Buffer> {
  const handle = await fileSystem.open(path, 'readWrite');
  const saved = Buffer.alloc(bytes.length);
  await handle.read(saved, 0, saved.length, position);
  await handle.write(bytes, position);
  await handle.datasync();
  await handle.close();
  return saved;
}

/** Reads of [start, end) byte ranges of a path fail with EIO, every time; everything else passes through. */
export class BadSectorFileSystem implements FileSystem {
  readonly bad = new Map<string, Array<[number, number]>>();
  constructor(readonly inner: FileSystem) {}

  markBad(path: string, start: number, end: number): void {
    this.bad.set(path, [...(this.bad.get(path) ?? []), [start, end]]);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    const ranges = () => this.bad.get(path) ?? [];
    return {
      path: handle.path,
      read: async (buffer, offset, length, position) => {
        if (ranges().some(([start, end]) => position < end && position + length > start)) throw fileSystemError('EIO', 'read', path);
        return handle.read(buffer, offset, length, position);
      },
      write: (data, position) => handle.write(data, position),
      datasync: () => handle.datasync(),
      sync: () => handle.sync(),
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }
  readFile = (path: string) => this.inner.readFile(path);
  readdir = (dir: string) => this.inner.readdir(dir);
  mkdir = (dir: string) => this.inner.mkdir(dir);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  link = (existingPath: string, newPath: string) => this.inner.link(existingPath, newPath);
  unlink = (path: string) => this.inner.unlink(path);
  exists = (path: string) => this.inner.exists(path);
  syncDirectory = (dir: string) => this.inner.syncDirectory(dir);
}
