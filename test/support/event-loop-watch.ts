/**
 * Setup file for every test file: reports a test that kept its worker from taking a
 * macrotask turn for a long stretch.
 *
 * The in-memory file systems settle their calls as microtasks, so a long sweep on them
 * can run for a minute without a timer or an IPC message being handled. Vitest's worker
 * times its RPC calls to the main process at 60 s; after such a stretch the timer phase
 * runs before the reply is read, and the run fails with "Timeout calling onTaskUpdate"
 * although every test passed, naming no test. This names it (a warning on stderr): a
 * sweep reported here should yield (`await new Promise((r) => setImmediate(r))`) now and
 * then. Each test also starts after a turn (below).
 */
import { afterAll, afterEach, beforeEach } from 'vitest';

const WARN_AFTER_MS = 15_000;
const TICK_MS = 1_000;
const now = performance.now.bind(performance);
// Taken before any test can install fake timers.
const turn = setImmediate;

let current = '(between tests)';
let last = now();
/** The tests that ran since the last turn: the stretch is theirs. */
let since: string[] = [current];
let worst = 0;
let worstTests: string[] = [];

/** The stretch since the last turn, charged to the tests in it; only a turn resets it. */
function sample(turn: boolean): void {
  const at = now();
  const stretch = at - last;
  if (stretch > worst) {
    worst = stretch;
    worstTests = [...since];
  }
  if (turn) {
    last = at;
    since = [current];
  }
}

const ticker = setInterval(() => sample(true), TICK_MS);
ticker.unref();

// Vitest runs one test after another without a macrotask turn between them, so a file
// of many microtask-only tests is one stretch: each test starts after a turn.
beforeEach(async (context) => {
  await new Promise<void>((resolve) => turn(() => resolve()));
  sample(false);
  current = context.task.name;
  since.push(current);
});

// Hooks run as microtasks right after a test: a stretch that ends with the test is
// measured here, before any timer could run.
afterEach(() => sample(false));

afterAll((suite) => {
  sample(false);
  clearInterval(ticker);
  if (worst > WARN_AFTER_MS) {
    const file = 'filepath' in suite ? String(suite.filepath) : suite.name;
    process.stderr.write(
      `[event-loop-watch] ${file}: ${Math.round(worst)} ms without a macrotask turn during ${worstTests.map((name) => `"${name}"`).join(', ')} (vitest's worker RPC times out at 60 s)\n`,
    );
  }
});
