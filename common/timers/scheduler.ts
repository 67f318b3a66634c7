/**
 * The timer scheduler: a small loop in every API and runner process that fires the timers' ticks.
 * A tick is claimed in the database, never by an in-memory timer alone: the claim moves the
 * timer's next_execution_time on, conditional on the version it read, and stores the tick's
 * request in the same transaction (Store.changeTimer). Of any number of schedulers racing for a
 * tick one wins and the others find it claimed; a process that dies loses no tick, since the
 * others find it still due.
 *
 * A timer with a qualifier runs that version or alias of its function, resolved at each tick
 * (common/version-routing.ts), as a webhook call of it would be.
 *
 * Precision at low cost: the loop sleeps until the soonest tick the database knows, at most
 * `pollIntervalMs` (so that timers another process created or changed are seen), and this
 * process wakes it at once when it creates or changes one.
 */
import { describeValue, PrataiError } from '../errors.js';
import type { TimerRecord } from '../domain.js';
import type { Logger } from '../log.js';
import { newRequest, publishStoredRequests, type SubmitDeps } from '../submit-request.js';
import { qualifierTarget, resolveCall, type ResolvedCall } from '../version-routing.js';
import { Schedule } from './schedule.js';

/** How many request ids a timer keeps of its last firings. */
export const LAST_REQUESTS_KEPT = 5;

export interface TimerSchedulerOptions {
  /** Longest sleep between two looks at the database (ms). */
  pollIntervalMs: number;
  /** Most timers claimed in one pass. */
  batch: number;
}

export class TimerScheduler {
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Parsed schedules by pattern and time zone: croner's parse is not free, and patterns repeat. */
  private readonly schedules = new Map<string, Schedule>();

  constructor(
    private readonly deps: SubmitDeps & { log: Logger },
    private readonly options: TimerSchedulerOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Lets a pass that is claiming end, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  /** A timer was created or changed here: look at the database now rather than after the sleep. */
  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let sleepMs = this.options.pollIntervalMs;
      try {
        await this.fireDue();
        const next = await this.deps.store.nextTimerTick();
        if (next !== undefined) sleepMs = Math.min(sleepMs, Math.max(0, Date.parse(next) - Date.now()));
      } catch (error) {
        this.deps.log.error(`timers: ${(error as Error).message}`);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timeout = setTimeout(resolve, sleepMs);
        this.wakeUp = () => {
          clearTimeout(timeout);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  /** Claims and fires every tick that has come; returns how many this process fired. */
  async fireDue(): Promise<number> {
    let fired = 0;
    for (;;) {
      const due = await this.deps.store.dueTimers(new Date().toISOString(), this.options.batch);
      const won = await Promise.all(due.map((timer) => this.fire(timer)));
      fired += won.filter(Boolean).length;
      // A full batch may have left more behind; one claimed by another process is not due again.
      if (due.length < this.options.batch) return fired;
    }
  }

  private schedule(timer: TimerRecord): Schedule {
    const key = `${timer.timezone}\n${timer.pattern}`;
    let schedule = this.schedules.get(key);
    if (schedule === undefined) {
      schedule = Schedule.parse(timer.pattern, timer.timezone);
      if (this.schedules.size > 1000) this.schedules.clear();
      this.schedules.set(key, schedule);
    }
    return schedule;
  }

  /**
   * The version this tick of a timer runs: `latest`, or its qualifier's, resolved now as a webhook
   * call of that version or alias is (an alias's weights drawn for this tick). Undefined when the
   * qualifier names nothing any more (the store refuses deleting what a timer runs, so only a
   * database changed behind Pratai's back gets here): the timer is paused, and says why in the log.
   */
  private async target(timer: TimerRecord): Promise<Pick<ResolvedCall, 'version' | 'alias'> | undefined> {
    if (timer.qualifier === null) return { version: 'latest', alias: null };
    try {
      return await resolveCall(this.deps.store, timer, qualifierTarget(timer.qualifier));
    } catch (error) {
      if (!(error instanceof PrataiError) || (error.code !== 'AliasNotFound' && error.code !== 'VersionNotFound')) throw error;
      this.deps.log.error(`timer ${timer.timer_id} paused: ${error.message}`);
      await this.deps.store.changeTimer(timer.timer_id, timer.version, { status: 'paused', updated_at: new Date().toISOString() });
      return undefined;
    }
  }

  /** Tries to claim a timer's due tick; true when this process won it and fired it. */
  private async fire(timer: TimerRecord): Promise<boolean> {
    const { store, log } = this.deps;
    if (timer.next_execution_time === null) return false;
    let schedule: Schedule;
    try {
      schedule = this.schedule(timer);
    } catch (error) {
      // The API checked the pattern; one this Node cannot read (another version) pauses the timer.
      log.error(`timer ${timer.timer_id} paused: ${(error as Error).message} (pattern ${describeValue(timer.pattern)})`);
      await store.changeTimer(timer.timer_id, timer.version, { status: 'paused', updated_at: new Date().toISOString() });
      return false;
    }
    const target = await this.target(timer);
    if (target === undefined) return false;
    const at = new Date();
    const plan = schedule.plan(new Date(timer.next_execution_time), at);
    const request = newRequest(timer, timer.payload, { source: 'job', timerId: timer.timer_id, scheduledAt: plan.fireAt.toISOString(), version: target.version, alias: target.alias }, at.toISOString());
    const count = timer.count === null ? null : timer.count - 1;
    const done = count === 0 || plan.next === null;
    const claimed = await store.changeTimer(
      timer.timer_id,
      timer.version,
      {
        executions: timer.executions + 1,
        skipped: timer.skipped + plan.skipped,
        count,
        status: done ? 'done' : 'running',
        last_execution_time: plan.fireAt.toISOString(),
        next_execution_time: done ? null : (plan.next?.toISOString() ?? null),
        last_request_ids: [request.request_id, ...timer.last_request_ids].slice(0, LAST_REQUESTS_KEPT),
      },
      [request],
    );
    if (!claimed) return false;
    if (plan.skipped > 0) log.warning(`timer ${timer.timer_id} skipped ${plan.skipped} tick(s) missed before ${plan.fireAt.toISOString()}`);
    await publishStoredRequests(this.deps, [request]);
    return true;
  }
}
