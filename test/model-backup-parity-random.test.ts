/**
 * Outside review of backup, restore, verify, scrub, parity repair and repair by random
 * differential testing: seeded sequences of writes (puts, deletes, batches, transactions,
 * bulk batches), checkpoints and compactions at the smallest memory budget, online
 * backups with writes in flight, restores of an earlier backup (some damaged first),
 * damage to the store's run files and manifest (one page per stripe, two in a stripe,
 * the footer), scrubs, verify-and-repair reopens and crashes, on the fault file system,
 * checked against a model of every version after every step (model-backup-parity-driver.ts
 * and the modules it names say what is checked).
 *
 * MODEL_BACKUP_SEEDS=a-b runs other seeds (MODEL_BACKUP_STEPS their length); a failing
 * seed is shrunk to the fewest steps failing the same way (MODEL_BACKUP_SHRINK=0: not)
 * and printed with its steps, which runSteps replays.
 */
import { describe, it } from 'vitest';
import { makeConfig, makeSteps, runSteps, shrinkSteps } from './model-backup-parity-driver.js';
import { runOrShrink, seedList } from './model-sequences.js';

const STEPS = Number(process.env['MODEL_BACKUP_STEPS'] ?? 20);
const seeds = seedList(process.env['MODEL_BACKUP_SEEDS'] ?? '1-6');

describe('model review: backup, restore, verify, scrub and parity repair against a model, with damage on disk', () => {
  it.each(seeds)('seed %i', async (seed) => {
    await runOrShrink(seed, makeConfig(seed), makeSteps(seed, STEPS), runSteps, shrinkSteps, process.env['MODEL_BACKUP_SHRINK'] !== '0');
  }, 300_000);
});
