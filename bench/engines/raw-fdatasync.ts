/**
 * The raw limit: what the disk allows before any storage engine is involved.
 *
 * Fixed-size records (16-byte key + value, no header) are appended with
 * fs.writeSync to a file that was preallocated by writing zeros and fsyncing,
 * so appends change no file size or extent metadata; at the end the position
 * wraps to 0 and overwrites. Each put syncs one record; each batch (and each
 * group of 64 in the concurrent workload) is one write plus one sync.
 *
 * Two variants: `fs.fdatasyncSync` inline on the main thread, and the
 * callback `fs.fdatasync`, which runs on the libuv threadpool. The report names
 * the faster one "the raw limit" per workload.
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { asBytes, type EngineDefinition, type EngineHandle, type Entry } from './engine.js';

const ZERO_CHUNK_BYTES = 1 << 20;

type SyncFunction = (fileDescriptor: number) => void | Promise<void>;

export interface RawVariant {
  readonly id: string;
  readonly label: string;
  readonly syncDescription: string;
  readonly sync: SyncFunction;
}

const inlineVariant: RawVariant = {
  id: 'raw-inline',
  label: 'raw limit (fdatasyncSync)',
  syncDescription: 'fs.fdatasyncSync(fd) inline on the main thread',
  sync: (fileDescriptor) => fdatasyncSync(fileDescriptor),
};

const threadpoolVariant: RawVariant = {
  id: 'raw-threadpool',
  label: 'raw limit (fs.fdatasync)',
  syncDescription: 'callback fs.fdatasync(fd, cb) on the libuv threadpool',
  sync: (fileDescriptor) => syncOnThreadpool(fileDescriptor),
};

function syncOnThreadpool(fileDescriptor: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fileDescriptor, (error) => (error ? reject(error) : resolve()));
  });
}

/** Builds the raw-limit engine for one sync variant and preallocated size. */
export function rawEngine(variant: RawVariant, preallocatedBytes: number): EngineDefinition {
  return {
    id: variant.id,
    label: variant.label,
    role: 'raw-limit',
    settings: [
      `records: key + value bytes, no header, appended with fs.writeSync at an explicit position`,
      `file preallocated to ${preallocatedBytes / (1 << 20)} MiB by writing zeros, then fsynced; appends wrap around`,
      `sync: ${variant.syncDescription}`,
      'put: one record + one sync; batch of N: one write of N records + one sync',
    ],
    supportsReads: false,
    concurrentPutMode: 'one-append-per-group',
    concurrencyNote: 'per group of 64: 64 records written with one write and one fdatasync',
    async load() {
      return async (directory: string) => openRawHandle(join(directory, 'raw.log'), preallocatedBytes, variant.sync);
    },
  };
}

export function rawEngines(preallocatedBytes: number): EngineDefinition[] {
  return [rawEngine(inlineVariant, preallocatedBytes), rawEngine(threadpoolVariant, preallocatedBytes)];
}

async function openRawHandle(path: string, preallocatedBytes: number, sync: SyncFunction): Promise<EngineHandle> {
  const fileDescriptor = openSync(path, 'w+');
  preallocate(fileDescriptor, preallocatedBytes);
  const file = new WrappingAppender(fileDescriptor, preallocatedBytes);
  return {
    async put(key, value) {
      file.append(encodeRecords([{ key, value }]));
      await sync(fileDescriptor);
    },
    async batch(entries) {
      file.append(encodeRecords(entries));
      await sync(fileDescriptor);
    },
    async close() {
      closeSync(fileDescriptor);
    },
  };
}

function preallocate(fileDescriptor: number, sizeBytes: number): void {
  const zeros = Buffer.alloc(ZERO_CHUNK_BYTES);
  for (let position = 0; position < sizeBytes; position += ZERO_CHUNK_BYTES) {
    writeSync(fileDescriptor, zeros, 0, Math.min(ZERO_CHUNK_BYTES, sizeBytes - position), position);
  }
  fsyncSync(fileDescriptor);
}

function encodeRecords(entries: readonly Entry[]): Buffer {
  let totalBytes = 0;
  for (const entry of entries) totalBytes += asBytes(entry.key).length + asBytes(entry.value).length;
  const buffer = Buffer.allocUnsafe(totalBytes);
  let offset = 0;
  for (const entry of entries) {
    const key = asBytes(entry.key);
    const value = asBytes(entry.value);
    buffer.set(key, offset);
    buffer.set(value, offset + key.length);
    offset += key.length + value.length;
  }
  return buffer;
}

/** Writes consecutive buffers into the preallocated file, wrapping at its end. */
class WrappingAppender {
  private positionBytes = 0;

  constructor(
    private readonly fileDescriptor: number,
    private readonly sizeBytes: number,
  ) {}

  append(buffer: Buffer): void {
    if (buffer.length > this.sizeBytes) throw new Error(`record group of ${buffer.length} bytes exceeds the preallocated file`);
    if (this.positionBytes + buffer.length > this.sizeBytes) this.positionBytes = 0;
    const writtenBytes = writeSync(this.fileDescriptor, buffer, 0, buffer.length, this.positionBytes);
    if (writtenBytes !== buffer.length) throw new Error(`short write: ${writtenBytes} of ${buffer.length} bytes`);
    this.positionBytes += buffer.length;
  }
}
