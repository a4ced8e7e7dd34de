/**
 * `ladybug crash-test --json`: every other command has a machine-readable report, the
 * crash-recovery harness had only its text line (and refused --json as an unknown option,
 * exit 2). With --json it prints one JSON object on stdout with the facts of the text
 * line (mode, seed, cycles, acknowledged, lost, torn, inconsistent, failedOpens,
 * workerErrors, inFlight, inFlightApplied, tornTailsZeroed, the workers' flushes,
 * compactions and WAL deletions, the crashes during them, recovery p50/p99) and `passed`.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug crash-test --json', () => {
  it('prints one JSON object with the run\'s figures (2 short cycles)', async () => {
    const result = await ladybug('crash-test', '--cycles', '2', '--seed', '11', '--kill-after-ms-max', '40', '--json');
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines, result.stdout).toHaveLength(2); // one line, then the end
    expect(lines[1]).toBe('');
    const report = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(report).toMatchObject({ mode: 'kill', seed: 11, cycles: 2, lost: 0, torn: 0, inconsistent: 0, failedOpens: 0, workerErrors: 0, passed: true, problems: [] });
    for (const field of ['acknowledged', 'inFlight', 'inFlightApplied', 'tornTailsZeroed', 'workerFlushes', 'workerCompactions', 'workerWalSegmentsDeleted',
      'crashesDuringFlush', 'crashesDuringCompaction', 'recoveryMsP50', 'recoveryMsP99']) {
      expect(typeof report[field], field).toBe('number');
    }
    expect(report.recoveryMsP99 as number).toBeGreaterThan(0);
  }, 120_000);

  it('--json with a bad argument is still exit 2 with the usage, nothing on stdout', async () => {
    const result = await ladybug('crash-test', '--cycles', '1e3', '--json');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/--cycles/);
  }, 60_000);
});
