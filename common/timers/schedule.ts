/**
 * A timer's schedule: its cron pattern read in its time zone (croner parses and computes; Pratai
 * writes no cron parser), and how a tick that was due is planned when a scheduler claims it.
 */
import { Cron } from 'croner';
import { describeValue, PrataiError } from '../errors.js';

/** Cron patterns are 5 fields (minute first), 6 with seconds first, or a nickname (`@hourly`). */
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/**
 * Missed ticks counted one by one at most (each costs croner tens of µs, on the event loop);
 * past this, the rest of a long downtime is counted from the pattern's mean interval.
 */
const MAX_COUNTED_MISSES = 200;

/** Throws InvalidSchedule unless `timezone` is an IANA time zone this Node knows. */
export function checkTimezone(timezone: unknown): string {
  if (typeof timezone !== 'string' || timezone === '') throw new PrataiError('InvalidSchedule', `Expected \`timezone\` to be an IANA time zone such as UTC or Europe/Madrid, got ${describeValue(timezone)}`);
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new PrataiError('InvalidSchedule', `Expected \`timezone\` to be an IANA time zone such as UTC or Europe/Madrid, got \`${timezone}\` (unknown)`);
  }
  return timezone;
}

/** What a claim of a due tick does: the instant it fires for, how many earlier ones it skips, the next one. */
export interface TickPlan {
  fireAt: Date;
  skipped: number;
  next: Date | null;
}

export class Schedule {
  private constructor(
    private readonly cron: Cron,
    /** The pattern as read (trimmed). */
    readonly pattern: string,
    readonly timezone: string,
  ) {}

  /** Throws InvalidSchedule naming what is wrong: the pattern, the time zone, or a pattern that never fires. */
  static parse(pattern: unknown, timezone: unknown): Schedule {
    const zone = checkTimezone(timezone);
    const expected = 'Expected `pattern` to be a cron pattern of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, such as `*/5 * * * *`';
    if (typeof pattern !== 'string') throw new PrataiError('InvalidSchedule', `${expected}, got ${describeValue(pattern)}`);
    const fields = pattern.trim().split(/\s+/);
    const nickname = fields.length === 1 && NICKNAMES.includes(fields[0]?.toLowerCase() ?? '');
    if (!nickname && fields.length !== 5 && fields.length !== 6) throw new PrataiError('InvalidSchedule', `${expected}, got \`${pattern}\` (${fields.length} field${fields.length === 1 ? '' : 's'})`);
    let cron: Cron;
    try {
      cron = new Cron(pattern.trim(), { paused: true, timezone: zone });
    } catch (error) {
      throw new PrataiError('InvalidSchedule', `${expected}, got \`${pattern}\`: ${(error as Error).message}`);
    }
    const schedule = new Schedule(cron, pattern.trim(), zone);
    if (schedule.nextAfter(new Date()) === null) throw new PrataiError('InvalidSchedule', `The pattern \`${pattern}\` never fires (in ${zone})`);
    return schedule;
  }

  /** The first instant strictly after `instant`; null when there is none. */
  nextAfter(instant: Date): Date | null {
    return this.cron.nextRun(instant);
  }

  /**
   * The claim of a timer whose tick `due` has come (`due <= now`): it fires once, for the latest
   * instant that has come, and counts the earlier ones it passes over as skipped, so that after a
   * downtime a timer fires once rather than in a burst.
   */
  plan(due: Date, now: Date): TickPlan {
    let fireAt = due;
    let skipped = 0;
    let next = this.nextAfter(fireAt);
    while (next !== null && next.getTime() <= now.getTime()) {
      if (skipped === MAX_COUNTED_MISSES) return this.planLongDowntime(due, fireAt, skipped, now);
      fireAt = next;
      skipped += 1;
      next = this.nextAfter(fireAt);
    }
    return { fireAt, skipped, next };
  }

  private planLongDowntime(due: Date, counted: Date, skipped: number, now: Date): TickPlan {
    const latest = this.cron.previousRuns(1, now)[0] ?? counted;
    const meanMs = (counted.getTime() - due.getTime()) / skipped;
    const more = meanMs > 0 ? Math.round((latest.getTime() - counted.getTime()) / meanMs) : 0;
    return { fireAt: latest, skipped: skipped + more, next: this.nextAfter(now) };
  }
}

/** The original guide's `--frequency N` (minutes) as a pattern: N must divide an hour or a day evenly. */
export function frequencyPattern(minutes: number): string {
  if (Number.isInteger(minutes) && minutes >= 1 && minutes <= 59 && 60 % minutes === 0) return minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`;
  if (Number.isInteger(minutes) && minutes % 60 === 0 && minutes >= 60 && minutes <= 1440 && 1440 % minutes === 0) {
    const hours = minutes / 60;
    return hours === 24 ? '0 0 * * *' : hours === 1 ? '0 * * * *' : `0 */${hours} * * *`;
  }
  throw new PrataiError(
    'InvalidParameter',
    `Expected \`frequency\` to be minutes that divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or a day in whole hours (60, 120, 180, 240, 360, 480, 720, 1440), got ${describeValue(minutes)}; any other schedule is a job with a cron pattern`,
  );
}
