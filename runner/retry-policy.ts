/**
 * When a run job comes back: after a failed attempt (exponential backoff), or while its
 * function's `max_concurrency` slots are all taken (a short wait that grows). Delays come from a
 * small fixed set, without jitter, because a broker keeps one delay queue per distinct delay.
 */
import type { FunctionRecord } from '../common/domain.js';
import type { Outcome } from '../common/store/store.js';

const FIRST_RETRY_DELAY_MS = 1_000;
/** The longest wait between two attempts. */
const MAX_RETRY_DELAY_MS = 30_000;
const FIRST_CAPACITY_WAIT_MS = 100;
/** A request waiting for a slot looks again at least this often. */
const MAX_CAPACITY_WAIT_MS = 1_000;

/** The wait before the next attempt of a request whose attempt number `attempts` failed: 1 s, 2 s, 4 s … up to 30 s. */
export const retryDelayMs = (attempts: number): number => Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, Math.min(attempts - 1, 15)));

/** The wait before a request whose function is at capacity asks again, by its job's delivery count: 100 ms, 200 ms … up to 1 s. */
export const capacityWaitMs = (deliveryCount: number): number => Math.min(MAX_CAPACITY_WAIT_MS, FIRST_CAPACITY_WAIT_MS * 2 ** Math.max(0, Math.min(deliveryCount - 1, 10)));

/** Whether an attempt that ended this way is one the function's retries cover: a platform failure always, a function error when asked. */
export const isRetryable = (fn: Pick<FunctionRecord, 'retry_on_error'>, outcome: Pick<Outcome, 'status'>, platformFailure: boolean): boolean =>
  platformFailure || (fn.retry_on_error && (outcome.status === 'failed' || outcome.status === 'timeout'));

/**
 * Whether a request whose attempt number `attempts` failed retryably gets another one: while
 * attempts ≤ the function's `retries`, plus `platformRetries` (`[runner] platform_retries`) when
 * the attempt failed through no fault of the function.
 */
export const hasRetriesLeft = (fn: Pick<FunctionRecord, 'retries'>, attempts: number, platformRetries = 0): boolean => attempts <= fn.retries + platformRetries;
