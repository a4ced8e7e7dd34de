/**
 * Opening a run file for RunReader.open (src/run/run-reader.ts): the file the manifest
 * names, its size against the descriptor, its footer (checked against the
 * descriptor's footerChecksum, runId and generation, and agreeing with the rest of
 * the descriptor), the striped file over it, and its partitions' resident part
 * (run-partitions.ts). The reader is built from what this returns.
 *
 * While the partitions are read, a stripe's blocks (what parity rebuilds one of) are
 * the metadata blocks the footer names; once read, the partitions name every block.
 *
 * Invariants: nothing is returned before the footer's checksum matched the
 * descriptor's; a missing file or a size other than the descriptor's is a
 * CorruptionError naming the file; on any failure the handle is closed before the
 * error is rethrown.
 */
import { Buffer } from 'node:buffer';
import { asTypedError, CorruptionError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import { STRIPE_DATA_PAGES_MIN } from '../stripe/parity.js';
import { StripeLayout } from '../stripe/stripe-layout.js';
import { markFooterReadFailure } from '../stripe/stripe-errors.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { BlockCache } from './block-cache.js';
import type { RunDescriptor } from './run-descriptor.js';
import { StripedRunFile, type RepairEvent } from './run-file.js';
import { decodeFooter, parseChecksumHex, RUN_PAGE_BYTES, type RunFooter } from './run-format.js';
import { checkDescriptorAgrees, metadataBlocks, overlapsStripe, readPage } from './run-metadata.js';
import { RunPartitions } from './run-partitions.js';

export interface RunReaderOptions {
  /** Rebuild bad blocks from parity and write them back (default true); false only detects. */
  repair?: boolean;
  /** Called once per repair (a block rebuilt, a parity page rewritten). */
  onRepair?: (event: RepairEvent) => void;
}

/** A run file opened and checked, what a RunReader is made of. */
export interface OpenedRunFile {
  path: string;
  footer: RunFooter;
  file: StripedRunFile;
  partitions: RunPartitions;
  repair: boolean;
}

/** Opens and checks the run file `descriptor` names (see the module header). */
export async function openRunFile(
  fileSystem: FileSystem,
  runsDirectory: string,
  descriptor: RunDescriptor,
  hash: Hash64,
  cache: BlockCache,
  options: RunReaderOptions,
): Promise<OpenedRunFile> {
  const repair = options.repair ?? true;
  const path = joinPath(runsDirectory, descriptor.fileName);
  let handle: FileHandle;
  try {
    handle = await fileSystem.open(path, 'read');
  } catch (error) {
    // The descriptor comes from a manifest that lists the run: its file gone is damage, not an I/O failure.
    if (isFileSystemError(error, 'ENOENT')) throw new CorruptionError(path, 0, `run file missing: the manifest lists run ${descriptor.runId}`);
    throw asTypedError(error, `opening run ${path}`);
  }
  try {
    const sizeBytes = await handle.size();
    if (sizeBytes !== descriptor.fileBytes || sizeBytes % RUN_PAGE_BYTES !== 0 || sizeBytes < (STRIPE_DATA_PAGES_MIN + 2) * RUN_PAGE_BYTES) {
      throw new CorruptionError(path, Math.min(sizeBytes, descriptor.fileBytes), `file is ${sizeBytes} bytes, the manifest says ${descriptor.fileBytes}`);
    }
    const footerOffset = sizeBytes - RUN_PAGE_BYTES;
    const page = Buffer.alloc(RUN_PAGE_BYTES);
    // On the calling thread where the handle can (a page-cache read is a syscall; the
    // first get after a reopen opens every run it asks, so each hop to the thread pool
    // counted): same checks, same errors.
    try {
      if (handle.readSync !== undefined) readPageSync(handle, path, page, footerOffset);
      else await readPage(handle, path, page, footerOffset);
    } catch (error) {
      markFooterReadFailure(error, path, footerOffset); // a scrub names the footer as the damaged place (src/stripe/scrub.ts)
      throw error;
    }
    const footer = decodeFooter(hash, path, page, footerOffset, {
      runId: descriptor.runId,
      generation: descriptor.generation,
      checksum: parseChecksumHex(descriptor.footerChecksum),
      fileBytes: sizeBytes,
    });
    checkDescriptorAgrees(path, footerOffset, footer, descriptor);
    const file = new StripedRunFile(fileSystem, handle, path, hash, footer, new StripeLayout(footer.stripeDataPages, RUN_PAGE_BYTES));
    file.blocksInStripe = (stripe) => metadataBlocks(footer).filter((block) => overlapsStripe(file.layout, block, stripe));
    file.onRepair = options.onRepair;
    const partitions = await RunPartitions.read(file, footer, cache, descriptor.runId, repair);
    file.blocksInStripe = (stripe) => partitions.blocksInStripe(stripe);
    return { path, footer, file, partitions, repair };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** readPage (run-metadata.ts) on the calling thread. REQUIRES: the handle has readSync. */
function readPageSync(handle: FileHandle, path: string, page: Buffer, position: number): void {
  let done = 0;
  while (done < page.length) {
    let count: number;
    try {
      count = handle.readSync!(page, done, page.length - done, position + done);
    } catch (error) {
      throw asTypedError(error, `reading ${path} at offset ${position + done}`);
    }
    if (count === 0) throw new CorruptionError(path, position + done, `short read: ${page.length - done} bytes missing`);
    done += count;
  }
}
