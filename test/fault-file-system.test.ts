import { describe, expect, it, vi } from 'vitest';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import {
  FaultFileSystem,
  isSimulatedCrash,
  SECTOR_SIZE_BYTES,
  type CrashMode,
  type FaultOperation,
} from '../src/fs/fault-file-system.js';
import { GrowableBytes } from '../src/fs/fault/growable-bytes.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function text(data: Uint8Array | undefined): string | undefined {
  return data === undefined ? undefined : decoder.decode(data);
}

function filled(character: string, lengthBytes: number): Uint8Array {
  return new Uint8Array(lengthBytes).fill(character.charCodeAt(0));
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

/** Creates `path` with `data`, makes its data durable and (unless told not to) its entry too. */
async function writeDurableFile(
  fileSystem: FaultFileSystem,
  path: string,
  data: Uint8Array,
  options: { syncEntry?: boolean } = {},
): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  await handle.write(data, 0);
  await handle.datasync();
  await handle.close();
  if (options.syncEntry !== false) await fileSystem.syncDirectory(path.slice(0, path.lastIndexOf('/')) || '/');
}

/** Writes `data` at `position` of an existing file without syncing. */
async function writeUnsynced(fileSystem: FaultFileSystem, path: string, data: Uint8Array, position: number): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  await handle.write(data, position);
  await handle.close();
}

function seeds(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index + 1);
}

describe('FaultFileSystem: files and handles', () => {
  it('creates an empty file and reads back what was written', async () => {
    const fileSystem = new FaultFileSystem();
    const handle = await fileSystem.open('/data', 'createExclusive');
    expect(await handle.size()).toBe(0);
    await handle.write(bytes('hello world'), 0);
    await handle.write(bytes('W'), 6);
    expect(await handle.size()).toBe(11);
    expect(text(await fileSystem.readFile('/data'))).toBe('hello World');
  });

  it('fails open with ENOENT for a missing file and EEXIST for an exclusive create of an existing one', async () => {
    const fileSystem = new FaultFileSystem();
    await expectCode(fileSystem.open('/missing', 'read'), 'ENOENT');
    await expectCode(fileSystem.open('/missing', 'readWrite'), 'ENOENT');
    await expectCode(fileSystem.open('/no/such/dir/file', 'createExclusive'), 'ENOENT');
    await (await fileSystem.open('/present', 'createExclusive')).close();
    await expectCode(fileSystem.open('/present', 'createExclusive'), 'EEXIST');
  });

  it('zero-fills a write past the end and a truncate that extends, without resurrecting old bytes', async () => {
    const fileSystem = new FaultFileSystem();
    const handle = await fileSystem.open('/data', 'createExclusive');
    await handle.write(bytes('ab'), 4);
    expect([...(await fileSystem.readFile('/data'))]).toEqual([0, 0, 0, 0, 97, 98]);
    await handle.write(bytes('cdef'), 0);
    await handle.truncate(2);
    expect(text(await fileSystem.readFile('/data'))).toBe('cd');
    await handle.truncate(5);
    expect([...(await fileSystem.readFile('/data'))]).toEqual([99, 100, 0, 0, 0]);
    expect(await handle.size()).toBe(5);
  });

  it('reads into a buffer at an offset and returns the count, 0 at end of file', async () => {
    const fileSystem = new FaultFileSystem();
    const handle = await fileSystem.open('/data', 'createExclusive');
    await handle.write(bytes('abcdef'), 0);
    const buffer = new Uint8Array(8).fill(120);
    expect(await handle.read(buffer, 2, 6, 3)).toBe(3);
    expect(text(buffer)).toBe('xxdefxxx');
    expect(await handle.read(buffer, 0, 4, 6)).toBe(0);
    expect(await handle.read(buffer, 0, 4, 100)).toBe(0);
    await expect(handle.read(buffer, 6, 4, 0)).rejects.toBeInstanceOf(RangeError);
  });

  it('rejects writes and truncates through a read-only handle, and every call after close, with EBADF', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/data', bytes('abc'));
    const reader = await fileSystem.open('/data', 'read');
    await expectCode(reader.write(bytes('x'), 0), 'EBADF');
    await expectCode(reader.truncate(0), 'EBADF');
    await reader.sync();
    await reader.close();
    await expectCode(reader.read(new Uint8Array(1), 0, 1, 0), 'EBADF');
    await expectCode(reader.size(), 'EBADF');
    await expectCode(reader.close(), 'EBADF');
    expect(text(await fileSystem.readFile('/data'))).toBe('abc');
  });

  it('keeps a handle bound to its file after rename and unlink', async () => {
    const fileSystem = new FaultFileSystem();
    const handle = await fileSystem.open('/before', 'createExclusive');
    await handle.write(bytes('one'), 0);
    await fileSystem.rename('/before', '/after');
    await handle.write(bytes('two'), 3);
    expect(text(await fileSystem.readFile('/after'))).toBe('onetwo');
    await fileSystem.unlink('/after');
    await handle.write(bytes('!'), 6);
    const buffer = new Uint8Array(7);
    expect(await handle.read(buffer, 0, 7, 0)).toBe(7);
    expect(text(buffer)).toBe('onetwo!');
    expect(await fileSystem.exists('/after')).toBe(false);
  });

  it('normalises trailing and repeated slashes and rejects relative paths with EINVAL', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir/');
    const handle = await fileSystem.open('//dir//file/', 'createExclusive');
    expect(handle.path).toBe('/dir/file');
    expect(await fileSystem.readdir('/dir/')).toEqual(['file']);
    expect(await fileSystem.exists('/dir/./file')).toBe(true);
    await expectCode(fileSystem.open('dir/file', 'read'), 'EINVAL');
  });
});

describe('FaultFileSystem: directories and names', () => {
  it('creates directories recursively, tolerates existing ones and lists entry names', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/a/b/c');
    await fileSystem.mkdir('/a/b');
    await (await fileSystem.open('/a/b/file', 'createExclusive')).close();
    expect((await fileSystem.readdir('/a/b')).sort()).toEqual(['c', 'file']);
    expect(await fileSystem.readdir('/')).toEqual(['a']);
    expect(await fileSystem.readdir('/a/b/c')).toEqual([]);
  });

  it('reports ENOTDIR, EISDIR and EEXIST where a file and a directory are confused', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    await (await fileSystem.open('/file', 'createExclusive')).close();
    await expectCode(fileSystem.mkdir('/file'), 'EEXIST');
    await expectCode(fileSystem.mkdir('/file/sub'), 'ENOTDIR');
    await expectCode(fileSystem.open('/file/child', 'createExclusive'), 'ENOTDIR');
    await expectCode(fileSystem.readdir('/file'), 'ENOTDIR');
    await expectCode(fileSystem.syncDirectory('/file'), 'ENOTDIR');
    await expectCode(fileSystem.open('/dir', 'read'), 'EISDIR');
    await expectCode(fileSystem.readFile('/dir'), 'EISDIR');
    await expectCode(fileSystem.unlink('/dir'), 'EISDIR');
    await expectCode(fileSystem.link('/dir', '/dir2'), 'EPERM');
    await expectCode(fileSystem.readdir('/missing'), 'ENOENT');
  });

  it('answers exists for files, directories, the root and missing paths', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    await (await fileSystem.open('/dir/file', 'createExclusive')).close();
    expect(await fileSystem.exists('/')).toBe(true);
    expect(await fileSystem.exists('/dir')).toBe(true);
    expect(await fileSystem.exists('/dir/file')).toBe(true);
    expect(await fileSystem.exists('/dir/other')).toBe(false);
    expect(await fileSystem.exists('/missing/file')).toBe(false);
    expect(await fileSystem.exists('/dir/file/below')).toBe(false);
  });

  it('renames atomically over an existing file', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/target', bytes('old'));
    await writeDurableFile(fileSystem, '/temporary', bytes('new'));
    await fileSystem.rename('/temporary', '/target');
    expect(text(await fileSystem.readFile('/target'))).toBe('new');
    expect(await fileSystem.exists('/temporary')).toBe(false);
    await expectCode(fileSystem.rename('/temporary', '/target'), 'ENOENT');
    await fileSystem.rename('/target', '/target');
    expect(text(await fileSystem.readFile('/target'))).toBe('new');
  });

  it('renames a directory with its contents and refuses invalid directory renames', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/a/b');
    await writeDurableFile(fileSystem, '/a/b/file', bytes('x'));
    await fileSystem.rename('/a', '/c');
    expect(text(await fileSystem.readFile('/c/b/file'))).toBe('x');
    await expectCode(fileSystem.rename('/c', '/c/b/inside'), 'EINVAL');
    await expectCode(fileSystem.rename('/c/b/file', '/c'), 'EISDIR');
    await expectCode(fileSystem.rename('/c/b', '/c/b/file'), 'ENOTDIR');
    await fileSystem.mkdir('/d');
    await expectCode(fileSystem.rename('/d', '/c'), 'ENOTEMPTY');
  });

  it('links a second name to the same file and refuses an existing new name', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/first', bytes('shared'));
    await fileSystem.link('/first', '/second');
    await writeUnsynced(fileSystem, '/second', bytes('S'), 0);
    expect(text(await fileSystem.readFile('/first'))).toBe('Shared');
    await expectCode(fileSystem.link('/first', '/second'), 'EEXIST');
    await expectCode(fileSystem.link('/missing', '/third'), 'ENOENT');
    await fileSystem.unlink('/first');
    expect(text(await fileSystem.readFile('/second'))).toBe('Shared');
  });

  it('unlinks a file and fails with ENOENT for a missing one', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('x'));
    await fileSystem.unlink('/file');
    expect(await fileSystem.exists('/file')).toBe(false);
    await expectCode(fileSystem.unlink('/file'), 'ENOENT');
  });

  it('lists every current file path, each hard link once, without directories', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/a/b');
    await fileSystem.mkdir('/empty');
    await writeDurableFile(fileSystem, '/a/b/x', bytes('x'));
    await writeDurableFile(fileSystem, '/y', bytes('y'));
    await fileSystem.link('/y', '/a/z');
    await writeDurableFile(fileSystem, '/gone', bytes('g'));
    await fileSystem.unlink('/gone');
    expect(fileSystem.listPaths()).toEqual(['/a/b/x', '/a/z', '/y']);
  });
});

describe('FaultFileSystem: durability and crash modes', () => {
  it('drop-unsynced keeps only synced data under synced entries', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    await writeDurableFile(fileSystem, '/synced', bytes('durable'));
    await writeUnsynced(fileSystem, '/synced', bytes('LOST'), 0);
    await writeDurableFile(fileSystem, '/dir/entry-not-synced', bytes('data'), { syncEntry: false });
    const noDataSync = await fileSystem.open('/data-not-synced', 'createExclusive');
    await noDataSync.write(bytes('unsynced'), 0);
    await fileSystem.syncDirectory('/');
    const rebooted = fileSystem.crash('drop-unsynced');
    expect(text(await rebooted.readFile('/synced'))).toBe('durable');
    expect(await rebooted.readdir('/dir')).toEqual([]);
    expect((await rebooted.readFile('/data-not-synced')).length).toBe(0);
  });

  it('drop-unsynced reverts unsynced renames, links and unlinks and keeps synced ones', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/kept', bytes('k'));
    await writeDurableFile(fileSystem, '/renamed', bytes('r'));
    await writeDurableFile(fileSystem, '/removed', bytes('u'));
    await fileSystem.rename('/renamed', '/new-name');
    await fileSystem.link('/kept', '/alias');
    await fileSystem.unlink('/removed');
    const unsynced = fileSystem.crash('drop-unsynced');
    expect(unsynced.listPaths()).toEqual(['/kept', '/removed', '/renamed']);

    await unsynced.rename('/renamed', '/new-name');
    await unsynced.unlink('/removed');
    await unsynced.syncDirectory('/');
    const synced = unsynced.crash('drop-unsynced');
    expect(synced.listPaths()).toEqual(['/kept', '/new-name']);
    expect(text(await synced.readFile('/new-name'))).toBe('r');
  });

  it('needs syncDirectory on the parent for a new directory to survive', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    await writeDurableFile(fileSystem, '/dir/file', bytes('x'));
    expect(await fileSystem.crash('drop-unsynced').exists('/dir')).toBe(false);

    const again = new FaultFileSystem();
    await again.mkdir('/dir');
    await writeDurableFile(again, '/dir/file', bytes('x'));
    await again.syncDirectory('/');
    expect(text(await again.crash('drop-unsynced').readFile('/dir/file'))).toBe('x');
  });

  it('makes a truncate durable only after a sync', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('abcdef'));
    const handle = await fileSystem.open('/file', 'readWrite');
    await handle.truncate(3);
    expect(text(fileSystem.durableContent('/file'))).toBe('abcdef');
    await handle.sync();
    expect(text(fileSystem.durableContent('/file'))).toBe('abc');
    await handle.truncate(1);
    expect(text(await fileSystem.crash('drop-unsynced').readFile('/file'))).toBe('abc');
  });

  it('durableContent shows what drop-unsynced keeps, and undefined without a durable entry', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('base'));
    await writeUnsynced(fileSystem, '/file', bytes('more'), 4);
    await writeDurableFile(fileSystem, '/fresh', bytes('x'), { syncEntry: false });
    expect(text(fileSystem.durableContent('/file'))).toBe('base');
    expect(fileSystem.durableContent('/fresh')).toBeUndefined();
    expect(fileSystem.durableContent('/missing/file')).toBeUndefined();
    expect(text(await fileSystem.readFile('/file'))).toBe('basemore');
    const rebooted = fileSystem.crash('drop-unsynced');
    expect(text(await rebooted.readFile('/file'))).toBe('base');
  });

  it('keep-all keeps unsynced data and entries, and makes them durable in the new instance', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    const handle = await fileSystem.open('/dir/file', 'createExclusive');
    await handle.write(bytes('page cache'), 0);
    const rebooted = fileSystem.crash('keep-all');
    expect(text(await rebooted.readFile('/dir/file'))).toBe('page cache');
    expect(text(rebooted.durableContent('/dir/file'))).toBe('page cache');
    expect(text(await rebooted.crash('drop-unsynced').readFile('/dir/file'))).toBe('page cache');
  });

  it('torn-last-write keeps earlier pending writes and a strict prefix of the last one', async () => {
    const prefixLengths = new Set<number>();
    for (const seed of seeds(30)) {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/log', filled('A', 2048));
      const handle = await fileSystem.open('/log', 'readWrite');
      await handle.write(filled('B', 1024), 0);
      await handle.write(filled('C', 1500), 2048);
      const content = await fileSystem.crash('torn-last-write').readFile('/log');
      const prefixLengthBytes = content.length - 2048;
      expect(prefixLengthBytes).toBeGreaterThanOrEqual(0);
      expect(prefixLengthBytes).toBeLessThan(1500);
      expect(content.subarray(0, 1024)).toEqual(filled('B', 1024));
      expect(content.subarray(1024, 2048)).toEqual(filled('A', 1024));
      expect(content.subarray(2048)).toEqual(filled('C', prefixLengthBytes));
      prefixLengths.add(prefixLengthBytes);
    }
    expect(prefixLengths.size).toBeGreaterThan(5);
  });

  it('torn-last-write tears only the last write made anywhere, and nothing once it is synced', async () => {
    const fileSystem = new FaultFileSystem(3);
    await writeDurableFile(fileSystem, '/first', new Uint8Array(0));
    await writeDurableFile(fileSystem, '/second', new Uint8Array(0));
    await writeUnsynced(fileSystem, '/first', filled('F', 4096), 0);
    await writeUnsynced(fileSystem, '/second', filled('S', 4096), 0);
    const torn = fileSystem.crash('torn-last-write');
    expect(await torn.readFile('/first')).toEqual(filled('F', 4096));
    expect((await torn.readFile('/second')).length).toBeLessThan(4096);

    const synced = new FaultFileSystem(3);
    await writeDurableFile(synced, '/only', filled('O', 4096));
    await writeDurableFile(synced, '/fresh', bytes('x'), { syncEntry: false });
    const rebooted = synced.crash('torn-last-write');
    expect(await rebooted.readFile('/only')).toEqual(filled('O', 4096));
    expect(await rebooted.exists('/fresh')).toBe(false);
  });

  it('random-subset keeps each 512-byte sector of a pending write whole or not at all, varying by seed', async () => {
    const sectorCount = 8;
    const survivedCounts = new Array<number>(sectorCount).fill(0);
    const trials = seeds(40);
    for (const seed of trials) {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/file', filled('A', sectorCount * SECTOR_SIZE_BYTES));
      await writeUnsynced(fileSystem, '/file', filled('B', sectorCount * SECTOR_SIZE_BYTES), 0);
      const content = await fileSystem.crash('random-subset').readFile('/file');
      expect(content.length).toBe(sectorCount * SECTOR_SIZE_BYTES);
      for (let sector = 0; sector < sectorCount; sector += 1) {
        const piece = content.subarray(sector * SECTOR_SIZE_BYTES, (sector + 1) * SECTOR_SIZE_BYTES);
        const survived = piece[0] === 66;
        expect(piece).toEqual(filled(survived ? 'B' : 'A', SECTOR_SIZE_BYTES));
        if (survived) survivedCounts[sector] = (survivedCounts[sector] ?? 0) + 1;
      }
    }
    for (const count of survivedCounts) {
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThan(trials.length);
    }
  });

  it('random-subset splits an unaligned write at file-offset sector boundaries', async () => {
    const boundaries = [100, 512, 1024, 1100];
    for (const seed of seeds(20)) {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/file', filled('A', 1100));
      await writeUnsynced(fileSystem, '/file', filled('B', 1000), 100);
      const content = await fileSystem.crash('random-subset').readFile('/file');
      for (let index = 0; index + 1 < boundaries.length; index += 1) {
        const piece = content.subarray(boundaries[index], boundaries[index + 1]);
        expect(new Set(piece).size).toBe(1);
      }
    }
  });

  it('random-subset keeps or drops each unsynced entry change, pointing at consistent content', async () => {
    const outcomes = new Set<string>();
    for (const seed of seeds(40)) {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/target', bytes('old'));
      await writeDurableFile(fileSystem, '/temporary', bytes('new'), { syncEntry: false });
      await fileSystem.rename('/temporary', '/target');
      await writeDurableFile(fileSystem, '/created', bytes('created'), { syncEntry: false });
      const rebooted = fileSystem.crash('random-subset');
      const target = text(await rebooted.readFile('/target'));
      expect(['old', 'new']).toContain(target);
      const created = (await rebooted.exists('/created')) ? text(await rebooted.readFile('/created')) : 'absent';
      expect(['created', 'absent']).toContain(created);
      outcomes.add(`${target}/${created}`);
    }
    expect(outcomes).toEqual(new Set(['old/created', 'old/absent', 'new/created', 'new/absent']));
  });

  it('random-subset gives hard links one content and keeps them one file', async () => {
    for (const seed of seeds(20)) {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/a', filled('A', 4096));
      await fileSystem.link('/a', '/b');
      await fileSystem.syncDirectory('/');
      await writeUnsynced(fileSystem, '/a', filled('B', 4096), 0);
      const rebooted = fileSystem.crash('random-subset');
      expect(await rebooted.readFile('/b')).toEqual(await rebooted.readFile('/a'));
      await writeUnsynced(rebooted, '/a', bytes('Z'), 0);
      expect((await rebooted.readFile('/b'))[0]).toBe(90);
    }
  });

  it('is deterministic for a seed, differs between seeds, and advances the generator across crashes', async () => {
    async function crashedContent(seed: number): Promise<{ first: Uint8Array; second: Uint8Array }> {
      const fileSystem = new FaultFileSystem(seed);
      await writeDurableFile(fileSystem, '/data', new Uint8Array(64 * SECTOR_SIZE_BYTES));
      await writeUnsynced(fileSystem, '/data', filled('X', 64 * SECTOR_SIZE_BYTES), 0);
      const rebooted = fileSystem.crash('random-subset');
      const first = await rebooted.readFile('/data');
      await writeDurableFile(rebooted, '/other', new Uint8Array(64 * SECTOR_SIZE_BYTES));
      await writeUnsynced(rebooted, '/other', filled('X', 64 * SECTOR_SIZE_BYTES), 0);
      const second = await rebooted.crash('random-subset').readFile('/other');
      return { first, second };
    }
    const runA = await crashedContent(7);
    const runB = await crashedContent(7);
    const runC = await crashedContent(8);
    expect(runB).toEqual(runA);
    expect(runC.second).not.toEqual(runA.second);
    expect(runA.second).not.toEqual(runA.first);
  });

  it('kills the crashed instance and its handles, and starts the new one fresh', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('x'));
    const handle: FileHandle = await fileSystem.open('/file', 'readWrite');
    fileSystem.injectFault({ operation: 'readFile', error: 'EIO', persistent: true });
    const rebooted = fileSystem.crash('keep-all');
    expect(rebooted.operationCount).toBe(0);
    expect(text(await rebooted.readFile('/file'))).toBe('x');
    await expectCode(fileSystem.readFile('/file'), 'ESIMULATEDCRASH');
    await expectCode(handle.write(bytes('y'), 0), 'ESIMULATEDCRASH');
    await expectCode(handle.close(), 'ESIMULATEDCRASH');
    expect(() => fileSystem.crash('keep-all')).toThrow(expect.objectContaining({ code: 'ESIMULATEDCRASH' }));
    expect(() => fileSystem.listPaths()).toThrow(expect.objectContaining({ code: 'ESIMULATEDCRASH' }));
  });
});

describe('FaultFileSystem: injected faults', () => {
  interface FaultCase {
    operation: FaultOperation;
    run: (fileSystem: FaultFileSystem, handle: FileHandle) => Promise<unknown>;
    /** Checks that the failed call changed nothing. */
    unchanged?: (fileSystem: FaultFileSystem) => Promise<void>;
  }
  const cases: FaultCase[] = [
    { operation: 'open', run: (fileSystem) => fileSystem.open('/file', 'read') },
    {
      operation: 'open',
      run: (fileSystem) => fileSystem.open('/new', 'createExclusive'),
      unchanged: async (fileSystem) => expect(await fileSystem.exists('/new')).toBe(false),
    },
    { operation: 'read', run: (_, handle) => handle.read(new Uint8Array(4), 0, 4, 0) },
    {
      operation: 'write',
      run: (_, handle) => handle.write(bytes('zzzz'), 0),
      unchanged: async (fileSystem) => expect(text(await fileSystem.readFile('/file'))).toBe('data'),
    },
    { operation: 'datasync', run: (_, handle) => handle.datasync() },
    { operation: 'sync', run: (_, handle) => handle.sync() },
    {
      operation: 'truncate',
      run: (_, handle) => handle.truncate(1),
      unchanged: async (fileSystem) => expect(text(await fileSystem.readFile('/file'))).toBe('data'),
    },
    {
      operation: 'rename',
      run: (fileSystem) => fileSystem.rename('/file', '/moved'),
      unchanged: async (fileSystem) => expect(fileSystem.listPaths()).toEqual(['/file']),
    },
    {
      operation: 'link',
      run: (fileSystem) => fileSystem.link('/file', '/alias'),
      unchanged: async (fileSystem) => expect(fileSystem.listPaths()).toEqual(['/file']),
    },
    {
      operation: 'unlink',
      run: (fileSystem) => fileSystem.unlink('/file'),
      unchanged: async (fileSystem) => expect(fileSystem.listPaths()).toEqual(['/file']),
    },
    { operation: 'syncDirectory', run: (fileSystem) => fileSystem.syncDirectory('/') },
    {
      operation: 'mkdir',
      run: (fileSystem) => fileSystem.mkdir('/dir/sub'),
      unchanged: async (fileSystem) => expect(await fileSystem.exists('/dir')).toBe(false),
    },
    { operation: 'readFile', run: (fileSystem) => fileSystem.readFile('/file') },
    { operation: 'readdir', run: (fileSystem) => fileSystem.readdir('/') },
  ];

  it.each(cases)('fails $operation with the injected code and changes nothing', async (faultCase) => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('data'));
    const handle = await fileSystem.open('/file', 'readWrite');
    const fault = fileSystem.injectFault({ operation: faultCase.operation, error: 'EIO' });
    await expectCode(faultCase.run(fileSystem, handle), 'EIO');
    expect(fault.triggeredCount).toBe(1);
    await faultCase.unchanged?.(fileSystem);
    await faultCase.run(fileSystem, handle);
  });

  it('a write failing with ENOSPC writes nothing; the next write succeeds', async () => {
    const fileSystem = new FaultFileSystem();
    const handle = await fileSystem.open('/file', 'createExclusive');
    await handle.write(bytes('abc'), 0);
    fileSystem.injectFault({ operation: 'write', error: 'ENOSPC' });
    await expectCode(handle.write(bytes('defghi'), 3), 'ENOSPC');
    expect(await handle.size()).toBe(3);
    await handle.write(bytes('def'), 3);
    expect(text(await fileSystem.readFile('/file'))).toBe('abcdef');
  });

  it('fails only the nth matching call, filtered by exact path or RegExp', async () => {
    const fileSystem = new FaultFileSystem();
    const other = await fileSystem.open('/other', 'createExclusive');
    const target = await fileSystem.open('/target.log', 'createExclusive');
    fileSystem.injectFault({ operation: 'write', error: 'EIO', path: '/target.log', nth: 3 });
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\.log$/ });
    const results: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      await other.write(bytes('o'), index);
      results.push(await target.write(bytes('t'), index).then(() => 'ok', (error: { code: string }) => error.code));
    }
    expect(results).toEqual(['ok', 'ok', 'EIO', 'ok']);
    await other.datasync();
    await expectCode(target.datasync(), 'EIO');
    await target.datasync();
  });

  it('matches rename and link faults against either path', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/source', bytes('s'));
    fileSystem.injectFault({ operation: 'rename', error: 'EIO', path: '/destination' });
    fileSystem.injectFault({ operation: 'link', error: 'EIO', path: '/source' });
    await expectCode(fileSystem.rename('/source', '/destination'), 'EIO');
    await expectCode(fileSystem.link('/source', '/alias'), 'EIO');
    await fileSystem.rename('/source', '/destination');
    expect(fileSystem.listPaths()).toEqual(['/destination']);
  });

  it('keeps failing a persistent fault until it is removed', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('x'));
    const fault = fileSystem.injectFault({ operation: 'readFile', error: 'EIO', nth: 2, persistent: true });
    await fileSystem.readFile('/file');
    for (let index = 0; index < 3; index += 1) await expectCode(fileSystem.readFile('/file'), 'EIO');
    expect(fault.triggeredCount).toBe(3);
    fault.remove();
    expect(text(await fileSystem.readFile('/file'))).toBe('x');
  });

  it('clearFaults disarms every fault', async () => {
    const fileSystem = new FaultFileSystem();
    fileSystem.injectFault({ operation: 'mkdir', error: 'EIO', persistent: true });
    await expectCode(fileSystem.mkdir('/dir'), 'EIO');
    fileSystem.clearFaults();
    await fileSystem.mkdir('/dir');
    expect(await fileSystem.exists('/dir')).toBe(true);
  });

  it('models fsyncgate: a failed datasync loses the pending writes even if a retry succeeds', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', new Uint8Array(0));
    const handle = await fileSystem.open('/file', 'readWrite');
    await handle.write(bytes('AAAA'), 0);
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO' });
    await expectCode(handle.datasync(), 'EIO');
    expect(text(await fileSystem.readFile('/file'))).toBe('AAAA');
    await handle.datasync();
    expect(fileSystem.durableContent('/file')?.length).toBe(0);
    await handle.write(bytes('BBBB'), 4);
    await handle.sync();
    expect([...(fileSystem.durableContent('/file') ?? [])]).toEqual([0, 0, 0, 0, 66, 66, 66, 66]);
    expect(text(await fileSystem.crash('drop-unsynced').readFile('/file'))).toBe('\0\0\0\0BBBB');
  });

  it('after a failed sync the page cache still holds the writes, so keep-all keeps them', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', new Uint8Array(0));
    const handle = await fileSystem.open('/file', 'readWrite');
    await handle.write(bytes('AAAA'), 0);
    fileSystem.injectFault({ operation: 'sync', error: 'EIO' });
    await expectCode(handle.sync(), 'EIO');
    expect(text(await fileSystem.crash('keep-all').readFile('/file'))).toBe('AAAA');
  });

  it('a failed syncDirectory leaves entries unsynced until a later one succeeds', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('x'), { syncEntry: false });
    fileSystem.injectFault({ operation: 'syncDirectory', error: 'EIO' });
    await expectCode(fileSystem.syncDirectory('/'), 'EIO');
    expect(fileSystem.durableContent('/file')).toBeUndefined();
    await fileSystem.syncDirectory('/');
    expect(text(fileSystem.durableContent('/file'))).toBe('x');
  });
});

describe('FaultFileSystem: operation counting and crash points', () => {
  it('counts every file-system and handle call, failed ones included', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    const handle = await fileSystem.open('/dir/file', 'createExclusive');
    await handle.write(bytes('x'), 0);
    await handle.datasync();
    await handle.size();
    await handle.close();
    await fileSystem.exists('/dir/file');
    await expectCode(fileSystem.readFile('/missing'), 'ENOENT');
    fileSystem.listPaths();
    fileSystem.durableContent('/dir/file');
    expect(fileSystem.operationCount).toBe(8);
  });

  it('lets n more calls through after crashAfterOperations(n) and fails all later ones', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/dir');
    fileSystem.crashAfterOperations(2);
    const handle = await fileSystem.open('/dir/file', 'createExclusive');
    await handle.write(bytes('x'), 0);
    const crashError = await handle.datasync().catch((error: unknown) => error);
    expect(isSimulatedCrash(crashError)).toBe(true);
    await expectCode(fileSystem.exists('/dir'), 'ESIMULATEDCRASH');
    await expectCode(handle.close(), 'ESIMULATEDCRASH');
    expect(isSimulatedCrash(fileSystemError('ENOENT', 'open', '/x'))).toBe(false);
    expect(isSimulatedCrash('ESIMULATEDCRASH')).toBe(false);
    const rebooted = fileSystem.crash('drop-unsynced');
    expect(await rebooted.exists('/dir')).toBe(false);
  });

  async function replaceAtomically(fileSystem: FaultFileSystem, data: Uint8Array, syncData: boolean): Promise<void> {
    const handle = await fileSystem.open('/db.tmp', 'createExclusive');
    await handle.write(data, 0);
    if (syncData) await handle.datasync();
    await handle.close();
    await fileSystem.rename('/db.tmp', '/db');
    await fileSystem.syncDirectory('/');
  }

  async function outcomesAtEveryCrashPoint(mode: CrashMode, syncData: boolean): Promise<Set<string>> {
    const counting = new FaultFileSystem();
    await writeDurableFile(counting, '/db', bytes('version 1'));
    const before = counting.operationCount;
    await replaceAtomically(counting, bytes('version 2'), syncData);
    const workloadOperations = counting.operationCount - before;
    const outcomes = new Set<string>();
    for (let crashPoint = 0; crashPoint <= workloadOperations; crashPoint += 1) {
      const fileSystem = new FaultFileSystem(crashPoint + 1);
      await writeDurableFile(fileSystem, '/db', bytes('version 1'));
      fileSystem.crashAfterOperations(crashPoint);
      await replaceAtomically(fileSystem, bytes('version 2'), syncData).catch((error: unknown) => {
        if (!isSimulatedCrash(error)) throw error;
      });
      const content = text(await fileSystem.crash(mode).readFile('/db')) ?? '';
      outcomes.add(content);
      if (crashPoint === workloadOperations) expect(content).toBe(syncData ? 'version 2' : '');
    }
    return outcomes;
  }

  it('supports crashing at every operation index: a correct atomic replace shows old or new', async () => {
    for (const mode of ['drop-unsynced', 'random-subset', 'torn-last-write'] as const) {
      expect(await outcomesAtEveryCrashPoint(mode, true)).toEqual(new Set(['version 1', 'version 2']));
    }
  });

  it('catches a missing fsync before rename, which a process kill (keep-all) would not', async () => {
    expect(await outcomesAtEveryCrashPoint('drop-unsynced', false)).toContain('');
    const killed = new FaultFileSystem();
    await writeDurableFile(killed, '/db', bytes('version 1'));
    await replaceAtomically(killed, bytes('version 2'), false);
    expect(text(await killed.crash('keep-all').readFile('/db'))).toBe('version 2');
  });
});

describe('FaultFileSystem: corruption and scale', () => {
  it('flipBit corrupts both durable and current content', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('hello'));
    fileSystem.flipBit('/file', 1, 0);
    expect(text(await fileSystem.readFile('/file'))).toBe('hdllo');
    expect(text(fileSystem.durableContent('/file'))).toBe('hdllo');
    expect(text(await fileSystem.crash('drop-unsynced').readFile('/file'))).toBe('hdllo');
  });

  it('flipBit rejects offsets past the end, bad bits, and directories', async () => {
    const fileSystem = new FaultFileSystem();
    await writeDurableFile(fileSystem, '/file', bytes('hello'));
    await fileSystem.mkdir('/dir');
    expect(() => fileSystem.flipBit('/file', 5, 0)).toThrow(RangeError);
    expect(() => fileSystem.flipBit('/file', 0, 8)).toThrow(RangeError);
    expect(() => fileSystem.flipBit('/dir', 0, 0)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(text(await fileSystem.readFile('/file'))).toBe('hello');
  });

  it('appends tens of thousands of small records to a megabyte file with few reallocations (content grows by doubling)', async () => {
    // Counted, not timed: a bound of 3 s on the whole loop failed on no defect when a loaded
    // machine ran it slowly. What keeps appends cheap is the doubling growth of the content
    // (current and durable): a growth by a fixed step would copy the file at nearly every
    // append, tens of thousands of reallocations here instead of about 2 x 16.
    const growable = GrowableBytes.prototype as unknown as { ensureCapacity(requiredBytes: number): void; bytes: Uint8Array };
    const ensureCapacity = growable.ensureCapacity;
    let reallocations = 0;
    vi.spyOn(growable, 'ensureCapacity').mockImplementation(function (this: typeof growable, requiredBytes: number) {
      const before = this.bytes;
      ensureCapacity.call(this, requiredBytes);
      if (this.bytes !== before) reallocations += 1;
    });
    try {
      const fileSystem = new FaultFileSystem();
      const handle = await fileSystem.open('/wal', 'createExclusive');
      await fileSystem.syncDirectory('/');
      const record = filled('r', 64);
      const recordCount = 20_000;
      for (let index = 0; index < recordCount; index += 1) {
        record[0] = index % 256;
        await handle.write(record, index * record.length);
        if (index % 100 === 99) await handle.datasync();
      }
      const rebooted = fileSystem.crash('random-subset');
      const content = await rebooted.readFile('/wal');
      expect(content.length).toBe(recordCount * record.length);
      expect(content[12_345 * 64]).toBe(12_345 % 256);
      // log2(1,280,000 / 64) is about 14.3: 16 per copy of the content, with room for the crash image's.
      expect(reallocations).toBeGreaterThan(0);
      expect(reallocations).toBeLessThanOrEqual(64);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
