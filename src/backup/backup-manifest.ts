/**
 * BACKUP.json: the last file a backup writes, listing every file of the backup with
 * its size and checksum. A backup directory without a valid BACKUP.json is not a
 * backup (a backup that crashed or was aborted), and restore refuses it.
 *
 * Bytes: UTF-8 JSON `{ "body": BackupBody, "checksum": "<16 hex>" }` where checksum
 * is xxHash64 of the UTF-8 bytes of JSON.stringify(body). A file's checksum is the
 * "chunked xxHash64": xxHash64 over the concatenation of the xxHash64 (8 bytes,
 * little-endian) of each BACKUP_CHUNK_BYTES chunk of the file, so it is computed in
 * bounded memory while the file is copied.
 *
 * Invariants
 * - Every listed path is `manifest/<name>` or `runs/<name>` with a plain name: a
 *   restore never writes outside its target directory.
 * - Paths are unique; sizes are non-negative safe integers; `version` is the store
 *   version the backup holds exactly (every commit at or below it, none above).
 */
import { Buffer } from 'node:buffer';
import { BackupError, UnsupportedFormatError } from '../errors.js';
import { isFileSystemError, joinPath, type FileHandle, type FileSystem } from '../fs/file-system.js';
import { BACKUP_CHUNK_BYTES, BACKUP_MANIFEST_BYTES_MAX } from '../limits.js';
import { RUN_PAGE_BYTES } from '../run/run-format.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';

export const BACKUP_MANIFEST_NAME = 'BACKUP.json';
/**
 * The mark of a backup under way (take-backup.ts): written durably into the target before
 * anything else, removed once BACKUP.json is durable. A directory a killed backup left has it
 * and no BACKUP.json: `ladybug verify` takes it for a backup (incomplete), not for a store,
 * which its runs, manifest and empty wal/ would otherwise look like.
 */
export const BACKUP_INCOMPLETE_NAME = 'BACKUP-INCOMPLETE';
export const BACKUP_FORMAT = 'ladybug-backup';
export const BACKUP_FORMAT_VERSION = 1;

export interface BackupFile {
  /** Relative to the backup directory, '/'-separated. */
  path: string;
  sizeBytes: number;
  checksum: string;
}

export interface BackupBody {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  version: number;
  createdAt: string;
  files: BackupFile[];
}

const FILE_PATH_PATTERN = /^(manifest|runs)\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CHECKSUM_PATTERN = /^[0-9a-f]{16}$/;

export function hashHex(hash: Hash64, bytes: Uint8Array): string {
  return hash(bytes).toString(16).padStart(16, '0');
}

/** Folds chunk checksums into a file checksum (see the header). */
export class ChunkedChecksum {
  readonly #hash: Hash64;
  readonly #chunkHashes: Buffer[] = [];
  sizeBytes = 0;

  constructor(hash: Hash64) {
    this.#hash = hash;
  }

  add(chunk: Uint8Array): void {
    assert(chunk.length > 0 && chunk.length <= BACKUP_CHUNK_BYTES, 'a checksum chunk is non-empty and bounded');
    const digest = Buffer.alloc(8);
    digest.writeBigUInt64LE(this.#hash(chunk));
    this.#chunkHashes.push(digest);
    this.sizeBytes += chunk.length;
  }

  digest(): string {
    return hashHex(this.#hash, Buffer.concat(this.#chunkHashes));
  }
}

/** How readChunks treats a page it cannot read, and a file shorter than its size. */
export interface ReadChunksOptions {
  /**
   * 'zero': a page (RUN_PAGE_BYTES) whose read fails with EIO reads as zeros instead of failing
   * (a backup's copy of a store run with a bad sector: the run scrub of the copy then rebuilds
   * the page from parity, take-backup.ts). Without it the read error is thrown.
   */
  unreadablePages?: 'zero';
  /** The error for a file that ends before its size (default: BackupError 'corrupt'). */
  ended?: (position: number, sizeBytes: number) => Error;
}

/** handle.read of [position, position + length) page by page, a page whose read fails with EIO as zeros (counted in `zeroed`). */
async function readZeroingUnreadablePages(handle: FileHandle, buffer: Uint8Array, length: number, position: number, zeroed: { pages: number }): Promise<number> {
  let at = position;
  while (at < position + length) {
    const pageEnd = Math.min(position + length, (Math.floor(at / RUN_PAGE_BYTES) + 1) * RUN_PAGE_BYTES);
    try {
      const read = await handle.read(buffer, at - position, pageEnd - at, at);
      if (read < pageEnd - at) return at + read - position;
    } catch (error) {
      if (!isFileSystemError(error, 'EIO')) throw error;
      buffer.fill(0, at - position, pageEnd - position);
      zeroed.pages++;
    }
    at = pageEnd;
  }
  return length;
}

/**
 * Reads `path` in chunks, handing each to `onChunk`; returns its chunked checksum and size, and
 * how many pages it read as zeros (unreadablePages 'zero': the checksum is then not the file's).
 */
export async function readChunks(
  fileSystem: FileSystem, path: string, hash: Hash64, onChunk?: (chunk: Uint8Array, position: number) => Promise<void>, options: ReadChunksOptions = {},
): Promise<{ checksum: string; sizeBytes: number; zeroedPages: number }> {
  const handle = await fileSystem.open(path, 'read');
  const zeroed = { pages: 0 };
  try {
    const sizeBytes = await handle.size();
    const checksum = new ChunkedChecksum(hash);
    const buffer = Buffer.alloc(Math.min(BACKUP_CHUNK_BYTES, Math.max(1, sizeBytes)));
    for (let position = 0; position < sizeBytes;) {
      const length = Math.min(buffer.length, sizeBytes - position);
      // The chunk is filled whole (a read may return fewer bytes than asked): the checksum is
      // over the file's 1 MiB chunks (docs/FORMAT.md), never over the sizes reads returned.
      let read = 0;
      while (read < length) {
        let got: number;
        try {
          got = await handle.read(buffer, read, length - read, position + read);
        } catch (error) {
          if (options.unreadablePages !== 'zero' || !isFileSystemError(error, 'EIO')) throw error;
          got = await readZeroingUnreadablePages(handle, buffer.subarray(read), length - read, position + read, zeroed);
        }
        if (got === 0) break;
        read += got;
      }
      if (read === 0) throw options.ended?.(position, sizeBytes) ?? new BackupError('corrupt', path, `file ended at ${position} of ${sizeBytes} bytes`);
      const chunk = buffer.subarray(0, read);
      checksum.add(chunk);
      await onChunk?.(chunk, position);
      position += read;
    }
    assert(checksum.sizeBytes === sizeBytes, 'read the whole file');
    return { checksum: checksum.digest(), sizeBytes, zeroedPages: zeroed.pages };
  } finally {
    await handle.close();
  }
}

export function encodeBackupManifest(body: BackupBody, hash: Hash64): Buffer {
  checkBody(body, BACKUP_MANIFEST_NAME);
  const bodyText = JSON.stringify(body);
  return Buffer.from(JSON.stringify({ body, checksum: hashHex(hash, Buffer.from(bodyText, 'utf8')) }), 'utf8');
}

/**
 * Reads and checks BACKUP.json; a missing or damaged one is a BackupError ('incomplete' /
 * 'corrupt'), one of a later format version (checksum valid) an UnsupportedFormatError.
 */
export async function readBackupManifest(fileSystem: FileSystem, backupDirectory: string, hash: Hash64): Promise<BackupBody> {
  const path = joinPath(backupDirectory, BACKUP_MANIFEST_NAME);
  if (!(await fileSystem.exists(path))) throw new BackupError('incomplete', path, 'no BACKUP.json: not a finished backup');
  const bytes = await fileSystem.readFile(path);
  if (bytes.length > BACKUP_MANIFEST_BYTES_MAX) throw new BackupError('corrupt', path, `larger than ${BACKUP_MANIFEST_BYTES_MAX} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new BackupError('corrupt', path, 'not JSON');
  }
  const { body, checksum } = (parsed ?? {}) as { body?: unknown; checksum?: unknown };
  if (typeof checksum !== 'string' || body === undefined) throw new BackupError('corrupt', path, 'no body or checksum');
  if (hashHex(hash, Buffer.from(JSON.stringify(body), 'utf8')) !== checksum) throw new BackupError('corrupt', path, 'checksum mismatch');
  checkBody(body, path);
  return body;
}

function checkBody(body: unknown, path: string): asserts body is BackupBody {
  const value = body as Partial<BackupBody>;
  const problem = (detail: string): never => {
    throw new BackupError('corrupt', path, detail);
  };
  if (value.format !== BACKUP_FORMAT) problem('not a ladybug backup');
  // A later version under a valid checksum: a newer release's backup, not damage (checkBody runs after the checksum).
  if (typeof value.formatVersion === 'number' && value.formatVersion > BACKUP_FORMAT_VERSION) {
    throw new UnsupportedFormatError(path, 0, `backup format version ${value.formatVersion}`, `backup format version ${BACKUP_FORMAT_VERSION}`);
  }
  if (value.formatVersion !== BACKUP_FORMAT_VERSION) problem(`unknown format version ${String(value.formatVersion)}`);
  if (!Number.isSafeInteger(value.version) || (value.version as number) < 0) problem('bad version');
  if (!Array.isArray(value.files)) problem('no file list');
  const seen = new Set<string>();
  for (const file of value.files as unknown[]) {
    const entry = file as Partial<BackupFile>;
    if (typeof entry.path !== 'string' || !FILE_PATH_PATTERN.test(entry.path)) problem(`bad file path ${String(entry.path)}`);
    if (!Number.isSafeInteger(entry.sizeBytes) || (entry.sizeBytes as number) < 0) problem(`bad size for ${String(entry.path)}`);
    if (typeof entry.checksum !== 'string' || !CHECKSUM_PATTERN.test(entry.checksum)) problem(`bad checksum for ${String(entry.path)}`);
    if (seen.has(entry.path as string)) problem(`${String(entry.path)} listed twice`);
    seen.add(entry.path as string);
  }
}
