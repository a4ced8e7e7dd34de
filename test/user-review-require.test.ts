/**
 * New-user review (installed tarball): require('ladybug-store') in a CommonJS project
 * failed with ERR_PACKAGE_PATH_NOT_EXPORTED ('No "exports" main defined'), though the
 * package asks for Node >= 20.19, which loads an ES module through require(): the
 * exports map offered only the "import" condition (its "main" field is not read when
 * "exports" exists). Each entry point now also has "default", the same file, so
 * require() of both entry points resolves (checked on the installed tarball on Node 20:
 * openStore and LadybugLevel work from a .cjs file; no module of the package uses
 * top-level await, which require() of ESM would refuse).
 *
 * The check resolves through the repository's package.json in a package-shaped
 * temporary directory (empty files where dist/ would be), so it needs no build.
 */
import { mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterAll(() => removeTemporaryDirectories());

describe('user review: the package resolves for require() as well as import', () => {
  it('both entry points resolve from a CommonJS file', () => {
    const project = temporaryDirectory('ladybug-require-');
    const installed = join(project, 'node_modules', 'ladybug-store');
    mkdirSync(join(installed, 'dist', 'src', 'level'), { recursive: true });
    copyFileSync(join(import.meta.dirname, '..', 'package.json'), join(installed, 'package.json'));
    writeFileSync(join(installed, 'dist', 'src', 'index.js'), '');
    writeFileSync(join(installed, 'dist', 'src', 'level', 'index.js'), '');
    const require = createRequire(join(project, 'app.cjs'));
    expect(require.resolve('ladybug-store')).toBe(join(installed, 'dist', 'src', 'index.js'));
    expect(require.resolve('ladybug-store/level')).toBe(join(installed, 'dist', 'src', 'level', 'index.js'));
  });
});
