/**
 * The behaviour every Notifier adapter shares (common/notifications/notifier.ts): what a
 * subscriber hears, in which order, and what it never hears. Run by test/notifier.test.ts against
 * LocalNotifier and against AmqpNotifier on the real RabbitMQ.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Notification, NotificationFilter, Notifier, RequestChange } from '../common/notifications/notifier.js';
import { newId } from '../common/ids.js';

export interface NotifierPair {
  /** Where the tests publish (a runner, say). */
  publisher: Notifier;
  /** Where they subscribe (an API process): the same notifier for an in-process adapter. */
  listener: Notifier;
  cleanup(): Promise<void>;
}

export function aChange(fields: Partial<RequestChange> = {}): RequestChange {
  return {
    request_id: newId(),
    function_id: newId(),
    tenant_id: `tenant-${newId().slice(-8)}`,
    status: 'running',
    attempts: 1,
    dead_letter: false,
    created_at: new Date().toISOString(),
    started_at: new Date().toISOString(),
    finished_at: null,
    duration_ms: null,
    ...fields,
  };
}

export const logOf = (change: RequestChange, index: number, message = `line ${index}`): Notification => ({
  kind: 'log',
  request_id: change.request_id,
  function_id: change.function_id,
  tenant_id: change.tenant_id,
  attempt: change.attempts,
  index,
  records: [{ time: new Date().toISOString(), level: 'INFO', source: 'pratai', message }],
});

/** Gathers what a subscription hears; `until` resolves once `count` notifications arrived. */
export class Heard {
  readonly notifications: Notification[] = [];
  resyncs = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(notifier: Notifier, filter: NotificationFilter) {
    this.subscription = notifier.subscribe(filter, {
      notify: (notification) => {
        this.notifications.push(notification);
        this.wake();
      },
      resync: () => {
        this.resyncs += 1;
        this.wake();
      },
    });
  }

  readonly subscription: { close(): void };

  private wake(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (this.notifications.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  until(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.notifications.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`heard ${this.notifications.length} of ${count} notifications within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}

export function notifierContract(name: string, open: () => Promise<NotifierPair>): void {
  describe(`${name}: the notifier contract`, () => {
    let pair: NotifierPair;
    beforeEach(async () => {
      pair = await open();
    });
    afterEach(async () => {
      await pair.cleanup();
    });

    test('a subscriber hears a change published after it subscribed, as it was published', async () => {
      const change = aChange();
      const heard = new Heard(pair.listener, { kinds: ['request'], requestId: change.request_id });
      pair.publisher.publish({ kind: 'request', request: change });
      await heard.until(1);
      assert.deepEqual(heard.notifications, [{ kind: 'request', request: change }]);
    });

    test("a subscriber of one request hears only that request's notifications, of the kinds it asked for", async () => {
      const mine = aChange();
      const other = aChange({ tenant_id: mine.tenant_id, function_id: mine.function_id });
      const heard = new Heard(pair.listener, { kinds: ['log'], requestId: mine.request_id });
      // A sentinel subscriber hears everything of the tenant: once it has the last one, so would the other.
      const all = new Heard(pair.listener, { kinds: ['request', 'log'], tenantId: mine.tenant_id });
      pair.publisher.publish({ kind: 'request', request: mine });
      pair.publisher.publish(logOf(other, 0));
      pair.publisher.publish(logOf(mine, 0, 'mine'));
      await all.until(3);
      assert.deepEqual(
        heard.notifications.map((n) => n.kind === 'log' && n.records[0]?.message),
        ['mine'],
      );
    });

    test('a tenant or function filter keeps out the others', async () => {
      const change = aChange();
      const byTenant = new Heard(pair.listener, { kinds: ['request'], tenantId: change.tenant_id });
      const byFunction = new Heard(pair.listener, { kinds: ['request'], functionId: change.function_id });
      const sentinel = new Heard(pair.listener, { kinds: ['request'] });
      pair.publisher.publish({ kind: 'request', request: aChange() });
      pair.publisher.publish({ kind: 'request', request: aChange({ tenant_id: change.tenant_id }) });
      pair.publisher.publish({ kind: 'request', request: change });
      await sentinel.until(3);
      assert.equal(byTenant.notifications.length, 2);
      assert.deepEqual(byFunction.notifications, [{ kind: 'request', request: change }]);
    });

    test("one publisher's notifications arrive in the order it published them", async () => {
      const change = aChange();
      const heard = new Heard(pair.listener, { kinds: ['log'], requestId: change.request_id });
      for (let index = 0; index < 200; index += 1) pair.publisher.publish(logOf(change, index));
      await heard.until(200);
      assert.deepEqual(
        heard.notifications.map((n) => (n.kind === 'log' ? n.index : -1)),
        Array.from({ length: 200 }, (_, index) => index),
      );
    });

    test('a closed subscription hears nothing more; the others still do', async () => {
      const change = aChange();
      const closed = new Heard(pair.listener, { kinds: ['request'], requestId: change.request_id });
      const open = new Heard(pair.listener, { kinds: ['request'], requestId: change.request_id });
      closed.subscription.close();
      pair.publisher.publish({ kind: 'request', request: change });
      await open.until(1);
      assert.equal(closed.notifications.length, 0);
    });

    test("a subscriber that throws keeps no other from hearing", async () => {
      const change = aChange();
      pair.listener.subscribe({ kinds: ['request'], requestId: change.request_id }, {
        notify: () => {
          throw new Error('a careless subscriber');
        },
      });
      const heard = new Heard(pair.listener, { kinds: ['request'], requestId: change.request_id });
      pair.publisher.publish({ kind: 'request', request: change });
      await heard.until(1);
    });
  });
}
