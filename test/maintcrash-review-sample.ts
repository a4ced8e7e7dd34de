/** Seeded crash-point samples and store-image copies for the maintenance crash sweeps. */
import { mulberry32 } from './support/seeded-random.js';

/** `count` distinct indices of 0..total, 0 and total among them, drawn with a fixed seed, ascending. */
export function mulberry32Sample(total: number, count: number, seed: number): number[] {
  const random = mulberry32(seed);
  const chosen = new Set<number>([0, total]);
  while (chosen.size < count) chosen.add(Math.floor(random() * (total + 1)));
  return [...chosen].sort((a, b) => a - b);
}

/** A fresh fault file system holding `image`, every file and directory durable. */
export { fileSystemOf } from './review-runs-helpers.js';
