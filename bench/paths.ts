/**
 * Where the harness reads and writes: the repository root (found from this
 * file's location, so it works from bench/ under tsx and from dist/bench/
 * after tsc), bench/results/, and the scratch directory for engine data.
 *
 * Scratch data defaults to <repo>/bench/results/tmp/ (gitignored, on the same
 * file system as the repository) and is removed when the run ends.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'ladybug-store';

/** The nearest ancestor directory holding the ladybug-store package.json. */
export function findRepositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (isPackageRoot(directory)) return directory;
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no ${PACKAGE_NAME} package.json above ${import.meta.url}`);
    directory = parent;
  }
}

function isPackageRoot(directory: string): boolean {
  const manifestPath = join(directory, 'package.json');
  if (!existsSync(manifestPath)) return false;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: unknown };
  return manifest.name === PACKAGE_NAME;
}

export function resultsDirectory(repositoryRoot: string): string {
  return join(repositoryRoot, 'bench', 'results');
}

export function defaultScratchParent(repositoryRoot: string): string {
  return join(resultsDirectory(repositoryRoot), 'tmp');
}

/** Creates a fresh, uniquely named scratch directory for this run. */
export function createRunScratchDirectory(parent: string): string {
  const directory = resolve(parent, `run-${process.pid}-${Date.now()}`);
  mkdirSync(directory, { recursive: true });
  return directory;
}

export function removeDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true });
}

/** The installed version of `packageName`, read from node_modules. */
export function installedVersion(repositoryRoot: string, packageName: string): string | undefined {
  try {
    const manifestPath = join(repositoryRoot, 'node_modules', packageName, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : undefined;
  } catch {
    return undefined;
  }
}
