/**
 * `--wait`: polls the API until a function's image is built or a request is final, showing the
 * state on the way as a progress indicator.
 */
import { isFinal, type RequestRecord } from '../common/domain.js';
import type { FunctionView, PrataiApi } from './api.js';
import type { CliContext } from './context.js';

/** How often the API is asked again: often enough to feel live, rarely enough to be no load. */
const POLL_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `probe` every POLL_MS, handing each answer to `onEach`, until `isDone` says so. */
export async function poll<T>(probe: () => Promise<T>, isDone: (value: T) => boolean, onEach: (value: T) => void): Promise<T> {
  for (;;) {
    const value = await probe();
    onEach(value);
    if (isDone(value)) return value;
    await sleep(POLL_MS);
  }
}

/** Waits until the function is no longer `building`; answers it as it then is. */
export async function waitForBuild(context: CliContext, api: PrataiApi, functionId: string, name: string): Promise<FunctionView> {
  const progress = context.progress(`Building function ${name}`);
  const fn = await poll(() => api.getFunction(functionId), (value) => value.status !== 'building', (value) => progress.update(value.status));
  progress.done(fn.status);
  return fn;
}

/** Waits until the request has a final status; answers it with its logs. */
export async function waitForRequest(context: CliContext, api: PrataiApi, requestId: string): Promise<RequestRecord> {
  const progress = context.progress(`Request ${requestId}`);
  const request = await poll(() => api.getRequest(requestId), (value) => isFinal(value.status), (value) => progress.update(value.status));
  progress.done(request.status);
  return request;
}
