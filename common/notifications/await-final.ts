/**
 * Waits for a request to reach a final status, told by the notifier rather than by polling: the
 * store is read when a notification says the request is final (unless it carries the stored
 * outcome, as a runner's does within its own process), when notifications may have been lost
 * (resync), and once more before giving up. The caller subscribes (`watchFinal`) before it queues
 * the request's job, so that no outcome can come before the subscription.
 */
import { isFinal, type RequestRecord } from '../domain.js';
import type { Store } from '../store/store.js';
import type { Notifier } from './notifier.js';

/** What a waiter learns of the request: its status and, once final, its outcome. */
export type Answer = Pick<RequestRecord, 'status' | 'response' | 'error'>;

export interface FinalWatch {
  /**
   * Resolves with the request once it is final; with its latest state (or undefined, if it was
   * removed) when `timeoutMs` ran out or `signal` aborted first.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<Answer | undefined>;
  /** Stops listening without waiting (the request could not be queued). */
  close(): void;
}

export function watchFinal(store: Store, notifier: Notifier, requestId: string): FinalWatch {
  let wake: () => void = () => undefined;
  let woken = false;
  /** The final outcome as a notification told it, stored before it was sent. */
  let told: Answer | undefined;
  const subscription = notifier.subscribe(
    { kinds: ['request'], requestId },
    {
      notify: (notification) => {
        if (notification.kind !== 'request' || !isFinal(notification.request.status)) return;
        if (notification.outcome !== undefined) told = { status: notification.request.status, ...notification.outcome };
        wakeUp();
      },
      resync: () => wakeUp(),
    },
  );
  function wakeUp(): void {
    woken = true;
    wake();
  }
  const read = (): Promise<RequestRecord | undefined> => store.getRequest(requestId, 'all-tenants');

  return {
    close: () => subscription.close(),
    wait: async (timeoutMs, signal) => {
      const deadline = Date.now() + timeoutMs;
      try {
        for (;;) {
          const ended = await new Promise<'woken' | 'deadline' | 'aborted'>((resolve) => {
            if (woken) return resolve('woken');
            if (signal?.aborted) return resolve('aborted');
            const settle = (how: 'woken' | 'deadline' | 'aborted'): void => {
              clearTimeout(timer);
              signal?.removeEventListener('abort', onAbort);
              resolve(how);
            };
            const timer = setTimeout(() => settle('deadline'), Math.max(0, deadline - Date.now()));
            const onAbort = (): void => settle('aborted');
            signal?.addEventListener('abort', onAbort, { once: true });
            wake = () => settle('woken');
          });
          woken = false;
          wake = () => undefined;
          if (ended === 'aborted') return undefined;
          if (told !== undefined) return told;
          // Read on every wake: a resync may find it still running, and the wait goes on.
          const request = await read();
          if (request === undefined || isFinal(request.status) || ended === 'deadline') return request;
        }
      } finally {
        subscription.close();
      }
    },
  };
}
