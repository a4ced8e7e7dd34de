/**
 * Packaging, tried as a new user would: `npm pack`, install the tarball into a
 * fresh project with --ignore-scripts, import both entry points (ESM), type-check a
 * file using them under moduleResolution nodenext and bundler (library .d.ts files
 * checked too), and run the `ladybug` command. Needs dist/ (`npm test` builds it)
 * and the npm cache or registry for the dependencies (--prefer-offline); about 10 s.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const root = join(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

afterAll(() => removeTemporaryDirectories());

/** Asynchronous: a synchronous child held this worker's event loop for the whole install (42 s on a busy CI machine), near vitest's 60 s RPC timeout. */
async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, encoding: 'utf8', timeout: 300_000 });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${String(error)}\n${stdout}${stderr}`);
  }
}

const USAGE = `
import { openStore, type Store, type StoreMetrics } from 'ladybug-store';
import { LadybugLevel } from 'ladybug-store/level';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const store: Store = await openStore(mkdtempSync(join(tmpdir(), 'ladybug-pack-')));
await store.put('a', 1);
const metrics: StoreMetrics = store.metrics();
const prometheus: string = store.metrics({ format: 'prometheus' });
await store.close();
const db = new LadybugLevel<string, string>(mkdtempSync(join(tmpdir(), 'ladybug-pack-')));
await db.put('', 'empty key');
const value: string | undefined = await db.get('');
await db.close();
console.log(JSON.stringify({ commits: metrics.commitsTotal, prometheus: prometheus.includes('ladybug_commit_seconds'), value }));
`;

describe('the packed package', () => {
  it('installs from its tarball, imports, type-checks under nodenext and bundler, and runs ladybug', async () => {
    expect(existsSync(join(root, 'dist', 'src', 'level', 'index.js')), 'build first (npm run build)').toBe(true);
    const packDirectory = temporaryDirectory('ladybug-pack-');
    const tarball = (await run('npm', ['pack', '--silent', '--pack-destination', packDirectory], root)).trim().split('\n').at(-1)!;
    const project = temporaryDirectory('ladybug-project-');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'new-user', version: '1.0.0', type: 'module', private: true }));
    await run('npm', ['install', join(packDirectory, tarball), '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], project);

    // Every types condition of the exports map names a .d.ts file that was packed.
    const installed = join(project, 'node_modules', 'ladybug-store');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string } | string> };
    const typesPaths = Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [] : [entry.types!]));
    expect(typesPaths).toEqual(['./dist/src/index.d.ts', './dist/src/level/index.d.ts']);
    for (const path of typesPaths) expect(existsSync(join(installed, path)), path).toBe(true);

    writeFileSync(join(project, 'usage.mjs'), USAGE.replace(/: (Store|StoreMetrics|string \| undefined|string)( =)/g, '$2').replace(/, type Store, type StoreMetrics/, '').replace('<string, string>', ''));
    expect(JSON.parse(await run(process.execPath, ['usage.mjs'], project))).toEqual({ commits: 1, prometheus: true, value: 'empty key' });

    writeFileSync(join(project, 'usage.ts'), USAGE);
    for (const [module, moduleResolution] of [['nodenext', 'nodenext'], ['esnext', 'bundler']] as const) {
      const config = {
        compilerOptions: {
          module, moduleResolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false,
          types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
        },
        files: ['usage.ts'],
      };
      writeFileSync(join(project, `tsconfig.${moduleResolution}.json`), JSON.stringify(config));
      await expect(run(process.execPath, [tsc, '-p', `tsconfig.${moduleResolution}.json`], project), moduleResolution).resolves.toBeTypeOf('string');
    }

    expect(await run(join(project, 'node_modules', '.bin', 'ladybug'), ['--help'], project)).toMatch(/^Usage: ladybug/);
  }, 300_000);
});
