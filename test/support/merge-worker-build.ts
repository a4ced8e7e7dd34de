/**
 * The merge thread runs the compiled worker (dist/src/compaction/merge-worker.js):
 * tests that use it build it first when it is missing (`npm test` builds anyway).
 * tsc emits even when a file has a transient type error, so a failed build is ignored
 * here and the test itself fails if the worker is still missing.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..', '..');

export async function ensureMergeWorkerBuilt(): Promise<void> {
  if (existsSync(join(root, 'dist', 'src', 'compaction', 'merge-worker.js'))) return;
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => undefined);
}
