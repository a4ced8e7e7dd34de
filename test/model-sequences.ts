/**
 * What the seeded random model tests (model-review, model-backup-parity,
 * model-watch-lease, model-level) share: the seeds an environment variable picks, and
 * the shrinking of a failing step sequence to the fewest steps that fail the same way.
 * Each test keeps its own driver, steps and failure signature.
 */

/** Seeds from a spec such as "1-8" or "1,19,41-49" (each part one seed or an inclusive range). */
export function seedList(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const [first, last = first] = part.split('-').map(Number) as [number, number?];
    return Array.from({ length: last - first + 1 }, (_, index) => first + index);
  });
}

/**
 * Drops steps one at a time while `run` still fails with the same `signature`; returns
 * the smallest sequence found and its error (an Error saying so when `steps` passed when
 * run again: nothing to shrink).
 */
export async function shrinkSequence<Step>(run: (steps: Step[]) => Promise<unknown>, steps: Step[], signature: (error: unknown) => string): Promise<{ steps: Step[]; error: unknown }> {
  let current = steps;
  let lastError: unknown;
  try {
    await run(steps);
    return { steps, error: new Error('passed when run again') };
  } catch (error) {
    lastError = error;
  }
  const wanted = signature(lastError);
  let changed = true;
  while (changed) {
    changed = false;
    for (let index = current.length - 1; index >= 0; index--) {
      const candidate = current.filter((_, at) => at !== index);
      try {
        await run(candidate);
      } catch (error) {
        if (signature(error) !== wanted) continue;
        lastError = error;
        current = candidate;
        changed = true;
      }
    }
  }
  return { steps: current, error: lastError };
}

/**
 * Runs one seed's sequence; when it fails, throws an error naming the seed, its config
 * and the shrunk steps (which the driver's runSteps replays), or the first error as it
 * is when `shrink` is false.
 */
export async function runOrShrink<Config, Step>(
  seed: number, config: Config, steps: Step[], runSteps: (config: Config, steps: Step[]) => Promise<unknown>,
  shrinkSteps: (config: Config, steps: Step[]) => Promise<{ steps: Step[]; error: unknown }>, shrink: boolean,
): Promise<void> {
  try {
    await runSteps(config, steps);
  } catch (error) {
    if (!shrink) throw error;
    const shrunk = await shrinkSteps(config, steps);
    throw new Error(`seed ${seed} ${JSON.stringify(config)}: ${String((shrunk.error as Error).message ?? shrunk.error)}\n  steps ${JSON.stringify(shrunk.steps)}`);
  }
}
