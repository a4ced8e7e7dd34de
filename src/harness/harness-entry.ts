/**
 * Where the JavaScript of a harness child process (crash-worker, lock-contender)
 * is, so it can be started with child_process.fork.
 *
 * - Running compiled (dist/src/harness/*.js, `npm run crash-test`, the CLI): the
 *   entry is the sibling .js file.
 * - Running from TypeScript source (vitest): the entries and everything they import
 *   are compiled with tsc into node_modules/.cache/ladybug-harness/<hash>/, where
 *   <hash> covers every file under src/ and the tsconfig, so a stale dist/ is never
 *   used and a half-edited file elsewhere in the project (bench/, test/) cannot
 *   break the build. The compile happens once per source state; concurrent test
 *   files race to rename their build into place and all use the winner's. Builds
 *   older than a day are removed.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export type HarnessEntry = 'crash-worker' | 'lock-contender';

const HARNESS_ENTRIES: readonly HarnessEntry[] = ['crash-worker', 'lock-contender'];
const HASH_PREFIX_CHARACTERS = 16;
/** Builds of other source states older than this are removed when a new one is made. */
const STALE_BUILD_AGE_MS = 24 * 60 * 60 * 1000;

/** The path of the runnable JavaScript for `entry`. */
export async function harnessEntryPath(entry: HarnessEntry): Promise<string> {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return fileURLToPath(new URL(`./${entry}.js`, import.meta.url));
  const buildDirectory = await buildFromSource(projectRoot());
  return join(buildDirectory, 'src', 'harness', `${entry}.js`);
}

function projectRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

async function buildFromSource(root: string): Promise<string> {
  const cacheDirectory = join(root, 'node_modules', '.cache', 'ladybug-harness');
  const target = join(cacheDirectory, sourceHash(root));
  if (existsSync(join(target, 'complete'))) return target;
  const staging = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(staging, { recursive: true });
  try {
    await compileInto(root, staging);
    writeFileSync(join(staging, 'complete'), new Date().toISOString());
    moveIntoPlace(staging, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  removeStaleBuilds(cacheDirectory);
  return target;
}

/** Old builds pile up as the sources change; one a day old is no longer in use. */
function removeStaleBuilds(cacheDirectory: string): void {
  const now = Date.now();
  for (const name of readdirSync(cacheDirectory)) {
    const path = join(cacheDirectory, name);
    if (now - statSync(path).mtimeMs > STALE_BUILD_AGE_MS) rmSync(path, { recursive: true, force: true });
  }
}

/** A hash of tsconfig.json and every file under src/. */
function sourceHash(root: string): string {
  const hash = createHash('sha256');
  for (const path of [join(root, 'tsconfig.json'), ...listFiles(join(root, 'src'))]) {
    hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
  }
  return hash.digest('hex').slice(0, HASH_PREFIX_CHARACTERS);
}

function listFiles(directory: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(path));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}

/** Compiles the harness entries (and their imports) into `outDirectory`, an ES module scope of its own. */
async function compileInto(root: string, outDirectory: string): Promise<void> {
  const config = {
    extends: join(root, 'tsconfig.json'),
    compilerOptions: { rootDir: root, outDir: outDirectory, declaration: false, sourceMap: true, incremental: false },
    include: [],
    files: HARNESS_ENTRIES.map((entry) => join(root, 'src', 'harness', `${entry}.ts`)),
  };
  const configPath = join(outDirectory, 'tsconfig.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  writeFileSync(join(outDirectory, 'package.json'), JSON.stringify({ type: 'module' }));
  const compiler = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const output = await runCompiler(compiler, configPath);
  for (const entry of HARNESS_ENTRIES) {
    if (!existsSync(join(outDirectory, 'src', 'harness', `${entry}.js`))) {
      throw new Error(`tsc did not emit the harness entry ${entry}:\n${output}`);
    }
  }
  // Type errors still emit JavaScript; say so, but run: the harness needs only the JavaScript.
  if (output.trim().length > 0) process.stderr.write(`harness build reported:\n${output}\n`);
}

function runCompiler(compiler: string, configPath: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(process.execPath, [compiler, '-p', configPath], { maxBuffer: 16 * 1024 * 1024 }, (_error, stdout, stderr) => {
      resolve(`${stdout}${stderr}`);
    });
  });
}

function moveIntoPlace(staging: string, target: string): void {
  try {
    renameSync(staging, target);
  } catch (error) {
    // Another process finished the same build first: use it.
    if (!existsSync(join(target, 'complete'))) throw error;
  }
}
