/**
 * When a flush writes its run in the store's flush thread (flush-thread.ts) rather than
 * on the main thread, and in which order it sends the entries: the flusher's settings
 * (flusher.ts re-exports them). Tests and the bench change `flushSettings`.
 */
/**
 * Starting the flush thread took 77-88 ms before its first run was written (a 10-key
 * flush in process: 2-11 ms; on the running thread: 5-6 ms; busy machine): a small
 * store's first flush (often the checkpoint of its close) would wait for that. Below
 * this estimated memtable size (~5-7k keys of 100 B: ~10-15 ms of main-thread
 * flushing) the first flushes stay in process; once a larger one started the thread,
 * every flush uses it. (4 MiB kept in process the ~3 MiB memtables that 64
 * concurrent writers seal at the WAL checkpoint bound at a 64 MiB budget.)
 */
export const FLUSH_THREAD_MIN_MEMTABLE_BYTES = 1024 * 1024;

/**
 * Flush threads that may exit under a flush (a crash, FLUSH_THREAD_OLD_GENERATION_MB
 * exhausted) and be replaced at the next flush, per store; past this many exits the
 * store flushes in process for good, as merges do past MERGE_THREAD_RESTARTS_MAX: a
 * thread that keeps dying (memtables that need more heap than it has) made every flush
 * pack and send its memtable, lose the thread's work and write it again in process.
 */
export const FLUSH_THREAD_RESTARTS_MAX = 2;

/**
 * The largest sealed memtable (its memoryBytes) the flush thread is sent by key range in
 * arrival order, to sort each range itself (flush-key-order.ts): the thread then holds a
 * range's chunks until the range is written, and the packing does not wait for it, so up
 * to the whole memtable's packed entries are in transit (off the heaps, about its
 * memoryBytes); the thread's heap holds one batch of KEY_ORDER_BATCH_ENTRIES
 * entries at a time, within its bound (FLUSH_THREAD_OLD_GENERATION_MB). A larger one is
 * packed in key order, as before.
 */
export const FLUSH_ARRIVAL_ORDER_BYTES_MAX = 32 * 1024 * 1024;

/**
 * `flushThread` (internal, tests and the bench): 'worker' writes runs in the store's
 * flush thread when the file system is the real one and the worker is built
 * (FlushRunWriter#usesThread, flush-run-writer.ts); 'main' always writes them on the main thread.
 * `threadMinMemtableBytes`: a memtable smaller than this is flushed in process unless
 * the thread already runs (FLUSH_THREAD_MIN_MEMTABLE_BYTES; tests lower it).
 * `arrivalOrderMaxBytes`: FLUSH_ARRIVAL_ORDER_BYTES_MAX (0: every flush in key order).
 */
export const flushSettings: { flushThread: 'worker' | 'main'; threadMinMemtableBytes: number; arrivalOrderMaxBytes: number } = {
  flushThread: 'worker',
  threadMinMemtableBytes: FLUSH_THREAD_MIN_MEMTABLE_BYTES,
  arrivalOrderMaxBytes: FLUSH_ARRIVAL_ORDER_BYTES_MAX,
};
