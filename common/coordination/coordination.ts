/**
 * Coordination as the API and the runners serve it: sessions (opened, kept alive, closed, and
 * swept once expired), the writes and reads of the port, the notifications that wake whoever
 * waits for a session's events, and the run jobs of the requests a write's node changes made
 * (stored with the write; published after its commit, else by a runner's sweeper). Every process
 * that serves coordination runs the sweep: closing a session is one write that only one of them wins.
 */
import { randomBytes } from 'node:crypto';
import { describeValue, PrataiError } from '../errors.js';
import { now } from '../ids.js';
import type { Logger } from '../log.js';
import { publishStoredRequests, type SubmitDeps } from '../submit-request.js';
import type { CoordinationStore } from './coordination-store.js';
import type { Op, Read, ReadResult, SessionRecord, WatchEvent, WriteResult } from './nodes.js';

/** The bounds of a session's timeout, in milliseconds (ZooKeeper negotiates between 2 and 20 ticks). */
export const MIN_SESSION_TIMEOUT_MS = 500;
export const MAX_SESSION_TIMEOUT_MS = 600_000;

/** Sessions one sweep closes at most; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

export interface CoordinationOptions {
  /** How often expired sessions are looked for and closed; 0: never (a test drives sweep()). */
  sweepIntervalMs: number;
}

export function sessionTimeoutOf(value: unknown, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  const ms = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < MIN_SESSION_TIMEOUT_MS || ms > MAX_SESSION_TIMEOUT_MS) {
    throw new PrataiError('InvalidParameter', `Expected \`timeout_ms\` to be an integer from ${MIN_SESSION_TIMEOUT_MS} to ${MAX_SESSION_TIMEOUT_MS}, got ${describeValue(value)}`);
  }
  return ms;
}

export class Coordination {
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly deps: Omit<SubmitDeps, 'store'> & { store: CoordinationStore; log: Logger },
    private readonly options: CoordinationOptions,
  ) {}

  start(): void {
    if (this.options.sweepIntervalMs <= 0 || this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => void this.sweep().catch((error: unknown) => this.deps.log.warning(`coordination sweep failed: ${(error as Error).message}`)), this.options.sweepIntervalMs);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  async openSession(tenantId: string, timeoutMs: number, requestId?: string): Promise<SessionRecord> {
    const session: SessionRecord = {
      session_id: randomBytes(16).toString('hex'),
      tenant_id: tenantId,
      timeout_ms: timeoutMs,
      expires_at: Date.now() + timeoutMs,
      request_id: requestId ?? null,
      created_at: now(),
    };
    await this.deps.store.createSession(session);
    return session;
  }

  async getSession(tenantId: string, sessionId: string): Promise<SessionRecord> {
    const session = await this.deps.store.getSession(tenantId, sessionId);
    if (session === undefined || session.expires_at <= Date.now()) throw expired(sessionId);
    return session;
  }

  /** Moves the session's expiry a timeout from now; throws SessionExpired when it is too late. */
  async keepAlive(tenantId: string, sessionId: string, timeoutMs?: number): Promise<SessionRecord> {
    const timeout = timeoutMs ?? (await this.getSession(tenantId, sessionId)).timeout_ms;
    const nowMs = Date.now();
    if (!(await this.deps.store.touchSession(tenantId, sessionId, nowMs, nowMs + timeout))) throw expired(sessionId);
    return { ...(await this.getSession(tenantId, sessionId)) };
  }

  /** Closes a session (its ephemeral nodes deleted, their watches fired); false when it was gone. */
  async closeSession(tenantId: string, sessionId: string): Promise<boolean> {
    const result = await this.deps.store.closeSession(tenantId, sessionId, Date.now());
    if (result === undefined) return false;
    await this.written(tenantId, result);
    return true;
  }

  async write(tenantId: string, sessionId: string | undefined, ops: readonly Op[]): Promise<WriteResult> {
    const result = await this.deps.store.write(tenantId, sessionId, ops, Date.now());
    await this.written(tenantId, result);
    return result;
  }

  read(tenantId: string, sessionId: string | undefined, read: Read): Promise<ReadResult> {
    if (read.watch && sessionId === undefined) throw new PrataiError('BadArguments', `Expected a session to hold the watch on ${read.path}, got none`);
    return this.deps.store.read(tenantId, sessionId, read, Date.now());
  }

  takeEvents(tenantId: string, sessionId: string): Promise<WatchEvent[]> {
    return this.deps.store.takeEvents(tenantId, sessionId);
  }

  /** Closes every expired session; returns how many. */
  sweep(): Promise<number> {
    this.sweeping ??= (async () => {
      try {
        let closed = 0;
        for (const { tenant_id, session_id } of await this.deps.store.expiredSessions(Date.now(), SWEEP_BATCH)) {
          if (await this.closeSession(tenant_id, session_id)) closed += 1;
        }
        if (closed > 0) this.deps.log.info(`closed ${closed} expired coordination session(s)`);
        return closed;
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /**
   * After a write's commit: wakes the sessions whose watches it fired, and publishes the jobs of
   * the requests its node changes made before the write answers (one that cannot be published
   * stays queued for a runner's sweeper: late, never lost).
   */
  private async written(tenantId: string, result: WriteResult): Promise<void> {
    if (result.notified.length > 0) this.deps.notifier.publish({ kind: 'coordination', tenant_id: tenantId, zxid: result.zxid, sessions: result.notified });
    if (result.requests.length === 0) return;
    this.deps.log.debug(`zxid ${result.zxid} of ${tenantId}: ${result.requests.length} request(s) of node subscriptions`);
    await publishStoredRequests(this.deps, result.requests);
  }
}

export function expired(sessionId: string): PrataiError {
  return new PrataiError('SessionExpired', `Session ${sessionId} has expired or was closed: its ephemeral nodes and watches are gone; open a new session`, { details: { session_id: sessionId } });
}
