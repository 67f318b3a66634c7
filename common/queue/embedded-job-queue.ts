import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Job } from '../domain.js';
import { PrataiError } from '../errors.js';
import type { Consumer, Delivery, JobHandler, JobQueue } from './queue.js';
import { WaitingJobs, type WaitingJob } from './waiting-jobs.js';

/** How long a job whose handler threw waits before it is delivered again. */
const HANDLER_FAILED_RETRY_DELAY_MS = 1_000;
/** How long consumers wait before claiming again after the database failed to hand out jobs. */
const CLAIM_FAILED_RETRY_DELAY_MS = 1_000;
/** Longest wait setTimeout accepts; a later job is looked at again when it fires. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Files open in this process, so a second open fails clearly instead of stealing deliveries. */
const openFiles = new Set<string>();

/** A delivery not yet acked or retried: its job's row, and when it was due (where it goes back to). */
type Claim = WaitingJob;

interface ConsumerState {
  readonly handler: JobHandler;
  readonly prefetch: number;
  readonly unsettled: Set<Claim>;
  readonly running: Set<Promise<void>>;
  stopped: Promise<void> | undefined;
}

/** A change waiting for the next commit, and the caller waiting for it. */
type Write = { readonly settled: (error?: Error) => void } & (
  | { readonly kind: 'publish'; readonly body: string; readonly availableAt: number }
  | { readonly kind: 'ack' | 'retry'; readonly consumer: ConsumerState; readonly claim: Claim; readonly availableAt: number }
);

/**
 * A JobQueue in its own SQLite file, for the all-in-one process. Several processes share
 * RabbitMQ instead: the file is locked exclusively, so a second process cannot open it.
 *
 * Durability: WAL with `synchronous=NORMAL` writes every commit to the WAL before it returns, so
 * a published or acked job survives a crash of the process (the guarantee we claim). It does not
 * fsync each commit, so an OS crash or power loss may lose the last commits; `synchronous=FULL`
 * would cover that at several times the cost per commit.
 *
 * A job is a row. Since no other process can touch the file, which jobs wait, and in which order,
 * is kept in memory too (read from the file when it opens): claiming a job costs one update of its
 * row by key, which counts the delivery before the handler sees it, so that a job that was being
 * run when the process died comes back with its earlier delivery counted.
 *
 * Group commit: publishes, acks, retries and claims made in one turn of the event loop are
 * committed together, in one transaction, at the end of that turn (setImmediate); each caller's
 * promise settles only once that transaction is committed, so `publish` still resolves only for
 * a job on disk, and a handler sees only a delivery whose count is on disk.
 */
export class EmbeddedJobQueue implements JobQueue {
  private readonly consumers = new Set<ConsumerState>();
  /** Jobs due now, in delivery order. */
  private readonly ready = new WaitingJobs();
  /** Jobs retried with a delay, until they are due. */
  private readonly delayed = new WaitingJobs();
  private readonly writes: Write[] = [];
  private commitScheduled: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;
  private closed: Promise<void> | undefined;

  private readonly insert;
  private readonly claim;
  private readonly remove;
  private readonly release;
  private readonly count;
  private readonly inTransaction;

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
      // `delivered` and the index on it served claims by query in earlier versions; the order
      // of waiting jobs now lives in memory, and the index would only cost every write.
      db.exec(`
        CREATE TABLE IF NOT EXISTS jobs (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          body TEXT NOT NULL,
          available_at INTEGER NOT NULL,
          delivery_count INTEGER NOT NULL DEFAULT 0,
          delivered INTEGER NOT NULL DEFAULT 0
        );
        DROP INDEX IF EXISTS jobs_ready;
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
    this.claim = db.prepare<[number], { body: string; delivery_count: number }>(
      'UPDATE jobs SET delivery_count = delivery_count + 1 WHERE seq = ? RETURNING body, delivery_count',
    );
    this.remove = db.prepare<[number]>('DELETE FROM jobs WHERE seq = ?');
    this.release = db.prepare<[number, number]>('UPDATE jobs SET available_at = ? WHERE seq = ?');
    this.count = db.prepare<[], number>('SELECT COUNT(*) FROM jobs').pluck();
    this.inTransaction = db.transaction((work: () => void) => work());
    // Every job in the file waits, those delivered before the process ended too: they run again.
    const now = Date.now();
    for (const row of db.prepare<[], { seq: number; available_at: number }>('SELECT seq, available_at FROM jobs').iterate()) {
      this.enqueue({ seq: row.seq, availableAt: row.available_at }, now);
    }
  }

  publish(job: Job): Promise<void> {
    return this.write((settled) => ({ kind: 'publish', body: JSON.stringify(job), availableAt: Date.now(), settled }));
  }

  consume(handler: JobHandler, options: { prefetch: number }): Consumer {
    const { prefetch } = options;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new TypeError(`Expected \`prefetch\` to be a positive integer, got ${String(prefetch)}`);
    }
    if (this.closed) throw this.unavailable('it is closed');
    const consumer: ConsumerState = { handler, prefetch, unsettled: new Set(), running: new Set(), stopped: undefined };
    this.consumers.add(consumer);
    this.scheduleCommit();
    this.armTimer(this.delayed.nextDueAt());
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
      clearImmediate(this.commitScheduled);
      this.commitScheduled = undefined;
      this.commit(); // what is left: publishes and acks made while the consumers stopped
      this.clearTimer();
      this.db.close();
      openFiles.delete(this.file);
    })();
    return this.closed;
  }

  /** Queues a change for the next commit; resolves once it is committed. */
  private write(make: (settled: (error?: Error) => void) => Write): Promise<void> {
    if (!this.db.open) return Promise.reject(this.unavailable('it is closed'));
    return new Promise((resolve, reject) => {
      this.writes.push(make((error) => (error ? reject(error) : resolve())));
      this.scheduleCommit();
    });
  }

  /** Acks (`delayMs` null) or retries one delivery, at the next commit. */
  private settle(consumer: ConsumerState, claim: Claim, delayMs: number | null): Promise<void> {
    if (delayMs !== null && !(Number.isFinite(delayMs) && delayMs >= 0)) {
      return Promise.reject(new TypeError(`Expected \`delayMs\` to be a non-negative number of milliseconds, got ${String(delayMs)}`));
    }
    if (!consumer.unsettled.has(claim)) {
      return Promise.reject(new Error(`Job ${claim.seq} was already acked or retried, or went back to the queue when its consumer stopped`));
    }
    // Its room is given to the next claim, which commits with this ack or retry or not at all.
    consumer.unsettled.delete(claim);
    const availableAt = Date.now() + (delayMs ?? 0);
    return this.write((settled) => ({ kind: delayMs === null ? 'ack' : 'retry', consumer, claim, availableAt, settled }));
  }

  /** Commits at the end of this turn of the event loop, with whatever else it brings. */
  private scheduleCommit(): void {
    this.commitScheduled ??= setImmediate(() => {
      this.commitScheduled = undefined;
      this.commit();
    });
  }

  /**
   * One transaction: the writes queued since the last one, and a claim of due jobs for every
   * consumer with room. Memory follows only once it is committed; a failed commit leaves the
   * file and memory as they were and tells every caller.
   */
  private commit(): void {
    const writes = this.writes.splice(0);
    if (!this.db.open) {
      for (const write of writes) write.settled(this.unavailable('it is closed'));
      return;
    }
    const now = Date.now();
    for (let due = this.delayed.takeDue(now); due !== undefined; due = this.delayed.takeDue(now)) this.ready.add(due);
    const claims: { consumer: ConsumerState; claim: Claim }[] = [];
    for (const consumer of this.consumers) {
      if (consumer.stopped) continue;
      for (let room = consumer.prefetch - consumer.unsettled.size; room > 0; room -= 1) {
        const claim = this.ready.takeDue(now);
        if (claim === undefined) break;
        claims.push({ consumer, claim });
      }
    }
    this.armTimer(this.delayed.nextDueAt());
    if (writes.length === 0 && claims.length === 0) return;
    const published: number[] = [];
    const claimed: ({ body: string; delivery_count: number } | undefined)[] = [];
    try {
      this.inTransaction(() => {
        for (const write of writes) {
          if (write.kind === 'publish') published.push(Number(this.insert.run(write.body, write.availableAt).lastInsertRowid));
          else if (write.kind === 'ack') this.remove.run(write.claim.seq);
          else this.release.run(write.availableAt, write.claim.seq);
        }
        for (const { claim } of claims) claimed.push(this.claim.get(claim.seq));
      });
    } catch (error) {
      const failure = this.unavailable('the database failed', error);
      for (const { claim } of claims) this.ready.add(claim);
      for (const write of writes) {
        // Still the consumer's to settle again; a stopped consumer's goes back to the queue.
        if (write.kind !== 'publish') {
          if (this.consumers.has(write.consumer)) write.consumer.unsettled.add(write.claim);
          else this.ready.add(write.claim);
        }
        write.settled(failure);
      }
      // No caller to throw the claims' failure to: say so, and try again later rather than lose the consumers.
      if (claims.length > 0) {
        process.emitWarning(this.unavailable('jobs cannot be claimed', error));
        this.armTimer(Date.now() + CLAIM_FAILED_RETRY_DELAY_MS);
      }
      return;
    }
    let publishedIndex = 0;
    for (const write of writes) {
      if (write.kind === 'publish') this.enqueue({ seq: published[publishedIndex++] as number, availableAt: write.availableAt }, now);
      else if (write.kind === 'retry') this.enqueue({ seq: write.claim.seq, availableAt: write.availableAt }, now);
    }
    claims.forEach(({ consumer, claim }, i) => {
      const row = claimed[i];
      if (row !== undefined) this.deliver(consumer, claim, row);
    });
    for (const write of writes) write.settled();
    if (writes.some((write) => write.kind === 'retry')) this.armTimer(this.delayed.nextDueAt());
    // Jobs published or retried just now are claimed by the next turn's commit.
    if (writes.some((write) => write.kind !== 'ack')) this.scheduleCommit();
  }

  private enqueue(job: WaitingJob, now: number): void {
    (job.availableAt <= now ? this.ready : this.delayed).add(job);
  }

  private deliver(consumer: ConsumerState, claim: Claim, row: { body: string; delivery_count: number }): void {
    consumer.unsettled.add(claim);
    const delivery: Delivery = {
      job: JSON.parse(row.body) as Job,
      deliveryCount: row.delivery_count,
      ack: () => this.settle(consumer, claim, null),
      retry: (delayMs = 0) => this.settle(consumer, claim, delayMs),
      // No dead-letter queue here: the store's dead-letter mark is what an operator reads.
      deadLetter: () => this.settle(consumer, claim, null),
    };
    const running: Promise<void> = this.run(consumer, claim, delivery).then(() => {
      consumer.running.delete(running);
    });
    consumer.running.add(running);
  }

  private async run(consumer: ConsumerState, claim: Claim, delivery: Delivery): Promise<void> {
    try {
      await consumer.handler(delivery);
    } catch {
      // The handler owns reporting its failure; the queue's part is to bring the job back.
      if (consumer.unsettled.has(claim)) {
        await this.settle(consumer, claim, HANDLER_FAILED_RETRY_DELAY_MS).catch((error: unknown) => process.emitWarning(error as Error));
      }
    }
  }

  private async stop(consumer: ConsumerState): Promise<void> {
    this.consumers.delete(consumer);
    if (this.consumers.size === 0) this.clearTimer();
    while (consumer.running.size > 0) await Promise.all(consumer.running);
    // Like a broker when a channel closes: deliveries left unsettled go back, in their place (their
    // delivery was counted when they were claimed).
    for (const claim of consumer.unsettled) this.ready.add(claim);
    consumer.unsettled.clear();
    if (this.consumers.size > 0) this.scheduleCommit();
  }

  /** Keeps one timer, for the earliest delayed job, and only while someone consumes. */
  private armTimer(dueAt: number): void {
    if (this.consumers.size === 0 || dueAt >= this.timerDueAt || dueAt === Infinity) return;
    this.clearTimer();
    this.timerDueAt = dueAt;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDueAt = Infinity;
      this.scheduleCommit();
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
