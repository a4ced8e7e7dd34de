import { defineConfig } from 'vitest/config';

// Every test run enables debug mode: the lock-order checker and the expensive
// consistency assertions are on (see src/debug.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { LADYBUG_DEBUG: '1' },
    // Names a test that holds its worker's event loop for long (see the file).
    setupFiles: ['test/support/event-loop-watch.ts'],
    // Guards against a hung test, not measures (no test asserts a duration): the CI
    // machine is shared, and at load 14-16 on its 2 cores a test of 10,500 awaited
    // durable puts and 8 compactions (review-tier-cache) took past 60 s.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
