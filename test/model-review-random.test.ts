/**
 * Outside review by random differential testing: seeded sequences of writes, transactions,
 * snapshots, scans held open across writes, checkpoints, compactions (plain and with a
 * retention floor), reopens and crashes (with and without commits in flight), on the
 * fault-injecting file system, with the smallest memory budget in most seeds (flushes and
 * merges all the time), string and binary keys up to 1,024 bytes and values up to 40 KB,
 * and maxVersionsPerKey 1-3 or unlimited. After every step the store's reads are compared
 * with the model of model-review-model.ts (see there for what is exact and what only must
 * not be wrong); at the end every key as of every version, and a watch from version 0.
 *
 * MODEL_REVIEW_SEEDS=a-b runs other seeds (MODEL_REVIEW_STEPS their length); a failing
 * seed is shrunk to the fewest steps that fail the same way (MODEL_REVIEW_SHRINK=0: not)
 * and printed with its steps, which runSteps replays.
 */
import { describe, it } from 'vitest';
import { makeConfig, makeSteps, runSteps, shrinkSteps } from './model-review-driver.js';
import { runOrShrink, seedList } from './model-sequences.js';

const STEPS = Number(process.env['MODEL_REVIEW_STEPS'] ?? 40);
const seeds = seedList(process.env['MODEL_REVIEW_SEEDS'] ?? '1-8');

describe('model review: the whole read API against a model, under flushes, merges, reopens and crashes', () => {
  it.each(seeds)('seed %i', async (seed) => {
    await runOrShrink(seed, makeConfig(seed), makeSteps(seed, STEPS), runSteps, shrinkSteps, process.env['MODEL_REVIEW_SHRINK'] !== '0');
  }, 300_000);
});
