import { defineConfig } from 'vitest/config';

// Every test run enables debug mode: the lock-order checker and the expensive
// consistency assertions are on (see src/debug.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { LADYBUG_DEBUG: '1' },
    // Names a test that holds its worker's event loop for long (see the file).
    setupFiles: ['test/support/event-loop-watch.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
