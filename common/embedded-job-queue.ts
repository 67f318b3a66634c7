import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Job } from './domain.js';
import { PrataiError } from './errors.js';
import type { Consumer, Delivery, JobHandler, JobQueue } from './queue.js';

/** How long a job whose handler threw waits before it is delivered again. */
const HANDLER_FAILED_RETRY_DELAY_MS = 1_000;
/** How long consumers wait before claiming again after the database failed to hand out jobs. */
const CLAIM_FAILED_RETRY_DELAY_MS = 1_000;
/** Longest wait setTimeout accepts; a later job is looked at again when it fires. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Files open in this process, so a second open fails clearly instead of stealing deliveries. */
const openFiles = new Set<string>();

interface Row {
  seq: number;
  body: string;
  delivery_count: number;
  available_at: number;
}

/** A delivery not yet acked or retried. */
interface Claim {
  readonly seq: number;
}

interface ConsumerState {
  readonly handler: JobHandler;
  readonly prefetch: number;
  readonly unsettled: Set<Claim>;
  readonly running: Set<Promise<void>>;
  stopped: Promise<void> | undefined;
}

/**
 * A JobQueue in its own SQLite file, for the all-in-one process. Several processes share
 * RabbitMQ instead: the file is locked exclusively, so a second process cannot open it.
 *
 * Durability: WAL with `synchronous=NORMAL` writes every commit to the WAL before it returns, so
 * a published or acked job survives a crash of the process (the guarantee we claim). It does not
 * fsync each commit, so an OS crash or power loss may lose the last commits; `synchronous=FULL`
 * would cover that at several times the cost per commit.
 *
 * A job is a row; `delivered` marks it as handed to a consumer in this process. Opening the file
 * clears every `delivered` mark: the process that set them is gone, so those jobs run again.
 */
export class EmbeddedJobQueue implements JobQueue {
  private readonly consumers = new Set<ConsumerState>();
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;
  private wakeScheduled = false;
  private closed: Promise<void> | undefined;

  private readonly insert;
  private readonly claim;
  private readonly remove;
  private readonly release;
  private readonly unclaim;
  private readonly nextDue;
  private readonly count;

  /** Opens (creating folders and file if needed) the queue at `path`, one open per file and process. */
  static open(path: string): EmbeddedJobQueue {
    const absolute = resolve(path);
    mkdirSync(dirname(absolute), { recursive: true });
    const file = join(realpathSync(dirname(absolute)), basename(absolute));
    if (openFiles.has(file)) {
      throw new Error(`The embedded queue ${file} is already open in this process; share the one EmbeddedJobQueue`);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: 1_000 });
      // Exclusive before WAL: the WAL index then lives in this process's memory, and the file
      // lock held until close keeps other processes out.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(`
        CREATE TABLE IF NOT EXISTS jobs (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          body TEXT NOT NULL,
          available_at INTEGER NOT NULL,
          delivery_count INTEGER NOT NULL DEFAULT 0,
          delivered INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (delivered, available_at);
        UPDATE jobs SET delivered = 0 WHERE delivered = 1;
      `);
    } catch (error) {
      db?.close();
      const locked = (error as { code?: unknown }).code === 'SQLITE_BUSY';
      throw new PrataiError(
        'ServiceUnavailable',
        locked
          ? `The embedded queue ${file} is in use by another process; run one all-in-one process per queue file`
          : `Cannot open the embedded queue ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    openFiles.add(file);
    return new EmbeddedJobQueue(db, file);
  }

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    this.insert = db.prepare<[string, number]>('INSERT INTO jobs (body, available_at) VALUES (?, ?)');
    // Claims a batch in one statement; RETURNING does not promise an order, so deliver() sorts.
    this.claim = db.prepare<[number, number], Row>(`
      UPDATE jobs SET delivered = 1, delivery_count = delivery_count + 1
      WHERE seq IN (SELECT seq FROM jobs WHERE delivered = 0 AND available_at <= ? ORDER BY available_at, seq LIMIT ?)
      RETURNING seq, body, delivery_count, available_at`);
    this.remove = db.prepare<[number]>('DELETE FROM jobs WHERE seq = ?');
    this.release = db.prepare<[number, number]>('UPDATE jobs SET delivered = 0, available_at = ? WHERE seq = ?');
    this.unclaim = db.prepare<[number]>('UPDATE jobs SET delivered = 0 WHERE seq = ?');
    this.nextDue = db
      .prepare<[number], number | null>('SELECT MIN(available_at) FROM jobs WHERE delivered = 0 AND available_at > ?')
      .pluck();
    this.count = db.prepare<[], number>('SELECT COUNT(*) FROM jobs').pluck();
  }

  async publish(job: Job): Promise<void> {
    this.use(() => this.insert.run(JSON.stringify(job), Date.now()));
    this.wake();
  }

  consume(handler: JobHandler, options: { prefetch: number }): Consumer {
    const { prefetch } = options;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new TypeError(`Expected \`prefetch\` to be a positive integer, got ${String(prefetch)}`);
    }
    if (this.closed) throw this.unavailable('it is closed');
    const nextDueAt = this.use(() => this.nextDue.get(Date.now())) ?? Infinity;
    const consumer: ConsumerState = { handler, prefetch, unsettled: new Set(), running: new Set(), stopped: undefined };
    this.consumers.add(consumer);
    this.wake();
    this.armTimer(nextDueAt);
    return { stop: () => (consumer.stopped ??= this.stop(consumer)) };
  }

  async ping(): Promise<void> {
    this.use(() => this.db.prepare('SELECT 1').get());
  }

  async depth(): Promise<number> {
    return this.use(() => this.count.get() ?? 0);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all([...this.consumers].map((consumer) => (consumer.stopped ??= this.stop(consumer))));
      this.clearTimer();
      this.db.close();
      openFiles.delete(this.file);
    })();
    return this.closed;
  }

  /** Delivers to every consumer with room, once per tick however many publishes and acks woke it. */
  private wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      this.wakeScheduled = false;
      for (const consumer of this.consumers) this.deliver(consumer);
    });
  }

  private deliver(consumer: ConsumerState): void {
    const room = consumer.prefetch - consumer.unsettled.size;
    if (room <= 0 || consumer.stopped || !this.db.open) return;
    let rows: Row[];
    try {
      rows = this.claim.all(Date.now(), room);
    } catch (error) {
      // No caller to throw to: say so, and try again later rather than lose the consumer.
      process.emitWarning(this.unavailable('jobs cannot be claimed', error));
      this.armTimer(Date.now() + CLAIM_FAILED_RETRY_DELAY_MS);
      return;
    }
    rows.sort((a, b) => a.available_at - b.available_at || a.seq - b.seq);
    for (const row of rows) {
      const claim: Claim = { seq: row.seq };
      consumer.unsettled.add(claim);
      const delivery: Delivery = {
        job: JSON.parse(row.body) as Job,
        deliveryCount: row.delivery_count,
        ack: async () => this.settle(consumer, claim, null),
        retry: async (delayMs = 0) => this.settle(consumer, claim, delayMs),
        // No dead-letter queue here: the store's dead-letter mark is what an operator reads.
        deadLetter: async () => this.settle(consumer, claim, null),
      };
      const running: Promise<void> = this.run(consumer, claim, delivery).then(() => {
        consumer.running.delete(running);
      });
      consumer.running.add(running);
    }
  }

  private async run(consumer: ConsumerState, claim: Claim, delivery: Delivery): Promise<void> {
    try {
      await consumer.handler(delivery);
    } catch {
      // The handler owns reporting its failure; the queue's part is to bring the job back.
      if (consumer.unsettled.has(claim)) {
        try {
          this.settle(consumer, claim, HANDLER_FAILED_RETRY_DELAY_MS);
        } catch (error) {
          process.emitWarning(error as Error);
        }
      }
    }
  }

  /** Acks (`delayMs` null) or retries one delivery. */
  private settle(consumer: ConsumerState, claim: Claim, delayMs: number | null): void {
    if (delayMs !== null && !(Number.isFinite(delayMs) && delayMs >= 0)) {
      throw new TypeError(`Expected \`delayMs\` to be a non-negative number of milliseconds, got ${String(delayMs)}`);
    }
    if (!consumer.unsettled.has(claim)) {
      throw new Error(`Job ${claim.seq} was already acked or retried, or went back to the queue when its consumer stopped`);
    }
    const availableAt = Date.now() + (delayMs ?? 0);
    this.use(() => (delayMs === null ? this.remove.run(claim.seq) : this.release.run(availableAt, claim.seq)));
    consumer.unsettled.delete(claim);
    if (delayMs) this.armTimer(availableAt);
    this.wake();
  }

  private async stop(consumer: ConsumerState): Promise<void> {
    this.consumers.delete(consumer);
    if (this.consumers.size === 0) this.clearTimer();
    while (consumer.running.size > 0) await Promise.all(consumer.running);
    // Like a broker when a channel closes: deliveries left unsettled go back, in their place.
    for (const claim of consumer.unsettled) {
      this.use(() => this.unclaim.run(claim.seq));
    }
    consumer.unsettled.clear();
    this.wake();
  }

  /** Keeps one timer, for the earliest delayed job, and only while someone consumes. */
  private armTimer(dueAt: number): void {
    if (this.consumers.size === 0 || dueAt >= this.timerDueAt || dueAt === Infinity) return;
    this.clearTimer();
    this.timerDueAt = dueAt;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDueAt = Infinity;
      for (const consumer of this.consumers) this.deliver(consumer);
      try {
        this.armTimer(this.use(() => this.nextDue.get(Date.now())) ?? Infinity);
      } catch (error) {
        process.emitWarning(error as Error);
        this.armTimer(Date.now() + CLAIM_FAILED_RETRY_DELAY_MS);
      }
    }, Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMER_DELAY_MS));
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueAt = Infinity;
  }

  /** Runs a database call, turning what better-sqlite3 throws into the platform's error. */
  private use<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.unavailable(this.db.open ? 'the database failed' : 'it is closed', error);
    }
  }

  private unavailable(reason: string, cause?: unknown): PrataiError {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new PrataiError('ServiceUnavailable', `The embedded queue ${this.file} cannot be used, ${reason}${detail}`, { cause });
  }
}
