/**
 * The documents name source and test files by path (`src/engine/flusher.ts`,
 * test/wal-rotation-faults, `dist/bench/flush-cpu.js`) and by file name
 * (`merge-worker.ts`). A file renamed, merged or deleted leaves such a name pointing
 * nowhere, and a reader following it finds nothing. This check reads README.md,
 * LOCK_ORDER.md and docs/*.md and asserts that every path under src/, test/, bench/ or
 * scripts/ they name exists (a `dist/` path by its TypeScript source, a test named
 * without its `.test.ts` by its file, a `name-*` pattern by one file it matches), that
 * every `*.ts` file name they mention exists somewhere in the tree, and that every
 * relative link points at a file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const SOURCE_ROOTS = ['src', 'test', 'bench', 'scripts'];

function documents(): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  return ['README.md', 'LOCK_ORDER.md', ...docs];
}

function filesUnder(directory: string, found: string[] = []): string[] {
  for (const entry of readdirSync(join(root, directory), { withFileTypes: true })) {
    const path = `${directory}/${entry.name}`;
    if (entry.isDirectory()) filesUnder(path, found);
    else found.push(path);
  }
  return found;
}

/** True when `path` (relative to the root, as a document wrote it) names a file or directory of the tree. */
function pathExists(path: string, treeFiles: readonly string[]): boolean {
  if (path.includes('*')) {
    const prefix = path.slice(0, path.indexOf('*'));
    return treeFiles.some((file) => file.startsWith(prefix));
  }
  const candidates = [path, `${path}.ts`, `${path}.test.ts`];
  if (path.endsWith('.js')) candidates.push(path.replace(/\.js$/, '.ts'));
  return candidates.some((candidate) => existsSync(join(root, candidate)));
}

interface Reference {
  document: string;
  line: number;
  text: string;
}

function references(pattern: RegExp, pick: (match: RegExpMatchArray) => string | undefined): Reference[] {
  const found: Reference[] = [];
  for (const document of documents()) {
    const lines = readFileSync(join(root, document), 'utf8').split('\n');
    lines.forEach((line, index) => {
      for (const match of line.matchAll(pattern)) {
        const text = pick(match);
        if (text !== undefined) found.push({ document, line: index + 1, text });
      }
    });
  }
  return found;
}

describe('documents name files that exist', () => {
  const treeFiles = SOURCE_ROOTS.filter((directory) => existsSync(join(root, directory))).flatMap((directory) => filesUnder(directory));
  const treeNames = new Set(treeFiles.map((file) => basename(file)));

  it('every src/, test/, bench/ and scripts/ path a document names exists', () => {
    // dist/src/x.js and dist/bench/x.js are built from src/x.ts and bench/x.ts.
    const paths = references(/(?<![\w./-])(?:dist\/)?((?:src|test|bench|scripts)\/[A-Za-z0-9_./*-]+)/g, (match) => {
      const path = (match[1] as string).replace(/[.,;:]+$/, '');
      // bench/results/... links are checked as links; a bare directory name (src/) has no file part.
      return path.endsWith('/') ? undefined : path;
    });
    expect(paths.length).toBeGreaterThan(100);
    const missing = paths.filter((reference) => !pathExists(reference.text, treeFiles));
    expect(missing.map((reference) => `${reference.document}:${reference.line}: ${reference.text}`)).toEqual([]);
  });

  it('every .ts file name a document mentions is a file of the tree', () => {
    const names = references(/(?<![\w./-])([a-z0-9][a-z0-9_-]*(?:\.test)?\.ts)\b/g, (match) => match[1]);
    expect(names.length).toBeGreaterThan(100);
    const missing = names.filter((reference) => !treeNames.has(reference.text));
    expect(missing.map((reference) => `${reference.document}:${reference.line}: ${reference.text}`)).toEqual([]);
  });

  it('every relative link of a document points at a file', () => {
    const links: Reference[] = [];
    for (const document of documents()) {
      const lines = readFileSync(join(root, document), 'utf8').split('\n');
      lines.forEach((line, index) => {
        for (const match of line.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
          const target = match[1] as string;
          if (!/^[a-z]+:/.test(target)) links.push({ document, line: index + 1, text: join(dirname(document), target) });
        }
      });
    }
    const missing = links.filter((reference) => !existsSync(join(root, reference.text)));
    expect(missing.map((reference) => `${reference.document}:${reference.line}: ${reference.text}`)).toEqual([]);
  });

  it('finds a name that does not exist', () => {
    expect(pathExists('test/no-such-file.test.ts', treeFiles)).toBe(false);
    expect(pathExists('test/retention-review-age', treeFiles)).toBe(true);
    expect(pathExists('dist/src/cli/main.js', treeFiles)).toBe(true);
    expect(pathExists('test/review-wal-recycle-*', treeFiles)).toBe(true);
    expect(pathExists('test/no-such-prefix-*', treeFiles)).toBe(false);
  });
});
