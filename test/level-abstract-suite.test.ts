/**
 * abstract-level's own test suite (tape), run against the built adapter in a child
 * process (test/level-abstract-suite.mjs; `npm test` builds dist/ first). The
 * adapter passes it only with zero failing and zero skipped assertions.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const runner = join(root, 'test', 'level-abstract-suite.mjs');
const built = join(root, 'dist', 'src', 'level', 'index.js');

/** The count after `# <name>` in tape's summary, or undefined when absent. */
function summaryCount(output: string, name: string): number | undefined {
  const match = new RegExp(`^# ${name}\\s+(\\d+)$`, 'm').exec(output);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Runs the suite without blocking this worker: a synchronous spawn held its event loop
 * for the whole run (15 s quiet, much more on a busy machine), past vitest's 60 s RPC
 * timeout.
 */
function runSuite(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [runner], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : (error as { code?: unknown }).code;
      resolve({ status: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

describe('abstract-level test suite', () => {
  it('passes every assertion, none skipped', async () => {
    expect(existsSync(built), `${built} is missing: build first (npm run build)`).toBe(true);
    const result = await runSuite();
    const output = result.stdout + result.stderr;
    const failures = output.split('\n').filter((line) => line.startsWith('not ok'));
    const skipped = output.split('\n').filter((line) => /^ok .*# (SKIP|TODO)/i.test(line));
    const tests = summaryCount(output, 'tests');
    const passed = summaryCount(output, 'pass');
    console.log(`abstract-level suite: ${tests} assertions, ${passed} passed, ${failures.length} failed, ${skipped.length} skipped`);
    expect(failures, output.slice(-4000)).toEqual([]);
    expect(skipped).toEqual([]);
    expect(result.status).toBe(0);
    expect(tests).toBeGreaterThan(4000);
    expect(passed).toBe(tests);
  }, 600_000);
});
