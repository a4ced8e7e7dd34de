/**
 * FaultFileSystem models Linux's errseq_t (since 4.13): a failed datasync/sync of
 * a file is reported once to every OTHER handle that was open on the file when it
 * failed (its next sync fails with the same code, then clears); handles opened
 * afterwards are not told. Before this model the other handles' syncs succeeded,
 * which let the WAL zero-fill defect fixed in bba6bb1 (two handles on one
 * segment) through.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function text(data: Uint8Array | undefined): string | undefined {
  return data === undefined ? undefined : decoder.decode(data);
}

describe('FaultFileSystem: a failed sync is reported to the other open handles (errseq_t)', () => {
  it("fails every other open handle's next sync once with the same code, then clears", async () => {
    const fileSystem = new FaultFileSystem();
    const writer = await fileSystem.open('/segment', 'createExclusive');
    await fileSystem.syncDirectory('/');
    const filler = await fileSystem.open('/segment', 'readWrite');
    const reader = await fileSystem.open('/segment', 'read');
    await writer.write(encoder.encode('lost'), 0);
    fileSystem.injectFault({ operation: 'datasync', error: 'ENOSPC', path: '/segment' });

    await expect(filler.datasync()).rejects.toMatchObject({ code: 'ENOSPC' });
    // The handle whose sync failed has seen the error: its next sync succeeds.
    await filler.datasync();
    // Each other handle open at the failure reports it once, datasync or sync alike.
    await expect(writer.datasync()).rejects.toMatchObject({ code: 'ENOSPC' });
    await writer.datasync();
    await expect(reader.sync()).rejects.toMatchObject({ code: 'ENOSPC' });
    await reader.sync();
    // The write pending at the failure stays lost (fsyncgate), as before.
    expect(text(fileSystem.durableContent('/segment'))).toBe('');
  });

  it('does not tell handles opened after the failure, nor handles closed before it', async () => {
    const fileSystem = new FaultFileSystem();
    const failing = await fileSystem.open('/file', 'createExclusive');
    await fileSystem.syncDirectory('/');
    const closedBefore = await fileSystem.open('/file', 'readWrite');
    await closedBefore.close();
    fileSystem.injectFault({ operation: 'sync', error: 'EIO', path: '/file' });
    await expect(failing.sync()).rejects.toMatchObject({ code: 'EIO' });

    const openedAfter = await fileSystem.open('/file', 'readWrite');
    await openedAfter.write(encoder.encode('kept'), 0);
    await openedAfter.datasync();
    expect(text(fileSystem.durableContent('/file'))).toBe('kept');
    await expect(closedBefore.datasync()).rejects.toMatchObject({ code: 'EBADF' });
  });

  it("writes the file's pending changes back before reporting the earlier error (Linux writes back, then checks)", async () => {
    const fileSystem = new FaultFileSystem();
    const first = await fileSystem.open('/file', 'createExclusive');
    await fileSystem.syncDirectory('/');
    const second = await fileSystem.open('/file', 'readWrite');
    await first.write(encoder.encode('lost'), 0);
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: '/file' });
    await expect(first.datasync()).rejects.toMatchObject({ code: 'EIO' });

    await second.write(encoder.encode('LATE'), 4);
    await expect(second.datasync()).rejects.toMatchObject({ code: 'EIO' });
    // The write made after the failure reached the disk; the one before it did not.
    expect(fileSystem.durableContent('/file')?.length).toBe(8);
    expect(text(fileSystem.durableContent('/file')?.slice(4))).toBe('LATE');
    expect(Array.from(fileSystem.durableContent('/file')?.slice(0, 4) ?? [])).toEqual([0, 0, 0, 0]);
  });

  it('reports several failures before the next sync once, with the latest code', async () => {
    const fileSystem = new FaultFileSystem();
    const failing = await fileSystem.open('/file', 'createExclusive');
    const other = await fileSystem.open('/file', 'readWrite');
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: '/file' });
    await expect(failing.datasync()).rejects.toMatchObject({ code: 'EIO' });
    fileSystem.injectFault({ operation: 'datasync', error: 'ENOSPC', path: '/file' });
    await expect(failing.datasync()).rejects.toMatchObject({ code: 'ENOSPC' });

    await expect(other.datasync()).rejects.toMatchObject({ code: 'ENOSPC' });
    await other.datasync();
  });

  it('follows the inode, not the name: handles on a renamed or hard-linked file are told, handles on another file are not', async () => {
    const fileSystem = new FaultFileSystem();
    const failing = await fileSystem.open('/a', 'createExclusive');
    await fileSystem.link('/a', '/b');
    const throughLink = await fileSystem.open('/b', 'readWrite');
    const unrelated = await fileSystem.open('/c', 'createExclusive');
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: '/a' });
    await expect(failing.datasync()).rejects.toMatchObject({ code: 'EIO' });

    await unrelated.datasync();
    await expect(throughLink.datasync()).rejects.toMatchObject({ code: 'EIO' });
  });
});
