/**
 * The coordination port: a project's tree of nodes, its sessions, watches and events, in the
 * platform's own database. Every write takes its project's next zxid in its own transaction,
 * from a counter row it locks first: the writes of one project are thereby serialized, in zxid
 * order, which is the order every reader sees them in (ARCHITECTURE.md, coordination).
 *
 * Adapter: SqlCoordinationStore (SQLite, MySQL/MariaDB, PostgreSQL);
 * test/coordination-contract.ts holds it to ZooKeeper's outcomes.
 */
import type { Op, Read, ReadResult, SessionRecord, WatchEvent, WriteResult } from './nodes.js';

export interface CoordinationStore {
  createSession(session: SessionRecord): Promise<void>;
  getSession(tenantId: string, sessionId: string): Promise<SessionRecord | undefined>;
  /** Moves a live session's expiry to `expiresAt`; false when it is gone or already expired at `nowMs`. */
  touchSession(tenantId: string, sessionId: string, nowMs: number, expiresAt: number): Promise<boolean>;
  /**
   * Ends a session: its ephemeral nodes deleted (their watches fired), its watches and untaken
   * events dropped, in one write of its own zxid. Undefined when it was gone already.
   */
  closeSession(tenantId: string, sessionId: string, nowMs: number): Promise<WriteResult | undefined>;
  /** Sessions past their expiry at `nowMs`, oldest first, at most `limit`. */
  expiredSessions(nowMs: number, limit: number): Promise<{ tenant_id: string; session_id: string }[]>;
  /**
   * Applies `ops` all or none, in order, as one write (one zxid). `sessionId` owns the ephemeral
   * nodes it creates and must be alive at `nowMs`. Throws NoNode, NodeExists, BadVersion,
   * NotEmpty, NoChildrenForEphemerals, BadArguments or SessionExpired, with `details.index` naming
   * the op that failed (the ops before it are rolled back, those after it not tried).
   */
  write(tenantId: string, sessionId: string | undefined, ops: readonly Op[], nowMs: number): Promise<WriteResult>;
  /** One read; one that sets a watch (for `sessionId`, alive at `nowMs`) is ordered with the writes, so no change falls between the two. */
  read(tenantId: string, sessionId: string | undefined, read: Read, nowMs: number): Promise<ReadResult>;
  /** Takes a session's fired watches' events, in zxid order: each is taken once (one look-up when there are none). */
  takeEvents(tenantId: string, sessionId: string): Promise<WatchEvent[]>;
}
