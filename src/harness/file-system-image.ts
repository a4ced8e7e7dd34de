/**
 * Copies a store directory between the real disk and a FaultFileSystem, for the
 * crash harness's power-loss mode.
 *
 * loadDirectoryImage: the real directory's files become durable files at the same
 * absolute path in the fault file system (entries durable up to the root), as on a
 * machine that just booted. saveDirectoryImage: after `crash()`, the rebooted
 * file system's tree replaces the real directory's contents, so the parent process
 * can open it with the real file system.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultFileSystem } from '../fs/fault-file-system.js';
import { isFileSystemError, joinPath, parentDirectory } from '../fs/file-system.js';

export async function loadDirectoryImage(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  await fileSystem.mkdir(directory);
  await copyRealDirectory(fileSystem, directory);
  await syncAncestors(fileSystem, directory);
}

async function copyRealDirectory(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = joinPath(directory, entry.name);
    if (entry.isDirectory()) {
      await fileSystem.mkdir(path);
      await copyRealDirectory(fileSystem, path);
    } else if (entry.isFile()) {
      await writeDurableFile(fileSystem, path, readFileSync(path));
    }
  }
  await fileSystem.syncDirectory(directory);
}

async function writeDurableFile(fileSystem: FaultFileSystem, path: string, content: Uint8Array): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  try {
    await handle.write(content, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the entries leading to `directory` durable, from `directory` up to the root. */
async function syncAncestors(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  for (let current = directory; ; current = parentDirectory(current)) {
    await fileSystem.syncDirectory(current);
    if (current === '/') return;
  }
}

export async function saveDirectoryImage(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  if (await fileSystem.exists(directory)) await copyFaultDirectory(fileSystem, directory);
}

async function copyFaultDirectory(fileSystem: FaultFileSystem, directory: string): Promise<void> {
  for (const name of await fileSystem.readdir(directory)) {
    const path = joinPath(directory, name);
    const children = await childrenOf(fileSystem, path);
    if (children === undefined) {
      writeFileSync(join(directory, name), await fileSystem.readFile(path));
    } else {
      mkdirSync(path);
      await copyFaultDirectory(fileSystem, path);
    }
  }
}

/** The entries of `path` if it is a directory, undefined if it is a file. */
async function childrenOf(fileSystem: FaultFileSystem, path: string): Promise<string[] | undefined> {
  try {
    return await fileSystem.readdir(path);
  } catch (error) {
    if (isFileSystemError(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}
