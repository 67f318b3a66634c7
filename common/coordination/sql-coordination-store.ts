/**
 * SqlCoordinationStore: the coordination port over the store's Kysely database (SQLite,
 * MySQL/MariaDB, PostgreSQL), in the tables of migration 0011_coordination.
 *
 * The linearization point of a project's writes is its row in `coord_tenants`: every write
 * begins by adding one to that row's zxid, which locks the row until the transaction ends, so
 * the writes of one project run one at a time, each seeing all before it (on PostgreSQL's READ
 * COMMITTED every statement after the lock reads what committed before it; on InnoDB's
 * REPEATABLE READ the snapshot is taken at the first plain read, after the lock; SQLite's write
 * transactions are serial). A read that sets a watch takes the same lock without moving the
 * zxid: its read and its watch are one step between two writes, so a change it did not see
 * fires it, and one it saw does not. Plain reads take no lock: they read committed state, never
 * older than what their caller saw, since there is one primary.
 *
 * Data is kept as base64 text: portable on every dialect (and MongoDB), at a third more bytes.
 *
 * A write also makes, in its own transaction, the requests its changes make of the functions
 * subscribed to their nodes (common/coordination/triggers.ts): a change and its requests commit
 * together or not at all, whichever process wrote it and whatever happens after the commit.
 */
import { SqliteAdapter, sql, type Compilable, type Kysely, type Transaction } from 'kysely';
import type { RequestRecord } from '../domain.js';
import { PrataiError } from '../errors.js';
import { PrecompiledQuery } from '../store/precompiled-query.js';
import { requestRow, type NodeSubscriptionRow, type RequestRow } from '../store/rows.js';
import { isUniqueViolation } from '../store/sql-errors.js';
import type { CoordinationStore } from './coordination-store.js';
import { ANY_VERSION, type EventType, type Op, type OpResult, type Read, type ReadResult, type SessionRecord, type Stat, type WatchEvent, type WatchKind, type WriteResult } from './nodes.js';
import { nameOf, parentOf, sequentialPath } from './paths.js';
import { fires, nodeRequest, pathsFiredBy, type NodeChange } from './triggers.js';

/** Integers as the drivers give them back: PostgreSQL's bigint comes as a string. */
type Int = number | string;

export interface NodeRow {
  tenant_id: string;
  path: string;
  parent: string;
  data: string;
  czxid: Int;
  mzxid: Int;
  pzxid: Int;
  version: Int;
  cversion: Int;
  ctime: Int;
  mtime: Int;
  /** '' when the node is not ephemeral. */
  ephemeral_owner: string;
  num_children: Int;
  data_length: Int;
}

export interface CoordinationTables {
  coord_tenants: { tenant_id: string; zxid: Int };
  coord_nodes: NodeRow;
  coord_sessions: { session_id: string; tenant_id: string; timeout_ms: Int; expires_at: Int; request_id: string | null; created_at: string };
  coord_watches: { session_id: string; tenant_id: string; path: string; kind: WatchKind };
  coord_events: { session_id: string; tenant_id: string; zxid: Int; seq: Int; type: EventType; path: string; kind: WatchKind };
  // The platform's own tables a write reads (who subscribes) and writes (the requests that makes).
  node_subscriptions: NodeSubscriptionRow;
  functions: { function_id: string; tenant_id: string; user_id: string };
  requests: RequestRow;
}

/** Requests inserted per statement: well under every database's limit of parameters. */
const INSERT_BATCH = 200;

type Db = Kysely<CoordinationTables> | Transaction<CoordinationTables>;

/** What a write changed, in order: the watches it fires. */
interface Change {
  type: EventType;
  path: string;
}

/** Which watches a change fires (ZooKeeper's trigger rules). */
const FIRES: Record<EventType, readonly WatchKind[]> = {
  NodeCreated: ['data'],
  NodeDataChanged: ['data'],
  NodeDeleted: ['data', 'child'],
  NodeChildrenChanged: ['child'],
};

const noNode = (path: string, why = ''): PrataiError => new PrataiError('NoNode', `No node ${path}${why}`, { details: { path } });

export function statOf(row: NodeRow): Stat {
  return {
    czxid: Number(row.czxid),
    mzxid: Number(row.mzxid),
    pzxid: Number(row.pzxid),
    version: Number(row.version),
    cversion: Number(row.cversion),
    ctime: Number(row.ctime),
    mtime: Number(row.mtime),
    ephemeral_owner: row.ephemeral_owner === '' ? null : row.ephemeral_owner,
    num_children: Number(row.num_children),
    data_length: Number(row.data_length),
  };
}

/**
 * ZooKeeper's sequential counter: how many children the node ever had created, which only grows,
 * so no name comes twice. A deletion moves cversion but not the counter (ZooKeeper keeps the
 * count of creations and reports cversion as creations + deletions); num_children is creations -
 * deletions, so the count is (cversion + num_children) / 2.
 */
const childrenCreated = (row: NodeRow): number => (Number(row.cversion) + Number(row.num_children)) / 2;

function checkVersion(row: NodeRow, path: string, version: number): void {
  if (version !== ANY_VERSION && Number(row.version) !== version) {
    throw new PrataiError('BadVersion', `Expected node ${path} at version ${version}, got version ${Number(row.version)}`, { details: { path, version: Number(row.version) } });
  }
}

/** Rows on up to this many paths are looked up by a query compiled once per count; more (a long multi's), by one built each time. */
const COMPILED_PATHS = 8;

/** A query of a project's rows on any of a list of paths, compiled once per count of paths (up to COMPILED_PATHS). */
class PathsQuery<R> {
  private readonly byCount = new Map<number, PrecompiledQuery<Record<string, string>, R>>();

  constructor(
    private readonly db: Kysely<CoordinationTables>,
    private readonly build: (tenantId: string, paths: readonly string[]) => Compilable<R>,
  ) {}

  async execute(runner: Db, tenantId: string, paths: readonly string[]): Promise<R[]> {
    if (paths.length > COMPILED_PATHS) return (await runner.executeQuery(this.build(tenantId, paths).compile())).rows;
    let query = this.byCount.get(paths.length);
    if (query === undefined) {
      const names = ['tenantId', ...paths.map((_, i) => `path${i}`)];
      query = new PrecompiledQuery<Record<string, string>, R>(this.db, names, (p) => this.build(p.tenantId as string, paths.map((_, i) => p[`path${i}`] as string)));
      this.byCount.set(paths.length, query);
    }
    const values: Record<string, string> = { tenantId };
    for (const [i, path] of paths.entries()) values[`path${i}`] = path;
    return (await query.execute(values, runner)).rows;
  }
}

/**
 * The statements of the calls clients make most (a node's get, set, create and delete, a
 * session's check, the watches and node subscriptions a write fires), compiled once (common/store/precompiled-query.ts): Kysely would build and
 * compile each again at every call, at more CPU than the database spends running it.
 */
class CoordinationQueries {
  readonly node;
  /** Adds one to the project's zxid, returning it where the database can. */
  readonly bump;
  readonly zxid;
  /** A session's expiry and the function request it serves, if any. */
  readonly session;
  readonly setData;
  readonly insertNode;
  readonly deleteNode;
  readonly childrenChanged;
  readonly children;
  readonly anyEvent;
  /** The project's watches on any of some paths. */
  readonly watchesOn;
  /** The project's node subscriptions on any of some paths, each with its function's owner. */
  readonly subscribersOn;
  /** A request's place in a chain of node requests. */
  readonly triggerDepth;

  constructor(db: Kysely<CoordinationTables>, returning: boolean) {
    type Where = { tenantId: string; path: string };
    this.node = new PrecompiledQuery<Where, NodeRow>(db, ['tenantId', 'path'], (p) => db.selectFrom('coord_nodes').selectAll().where('tenant_id', '=', p.tenantId).where('path', '=', p.path));
    const bump = (p: { tenantId: string }) => db.updateTable('coord_tenants').set({ zxid: sql<Int>`zxid + 1` }).where('tenant_id', '=', p.tenantId);
    this.bump = new PrecompiledQuery<{ tenantId: string }, { zxid: Int }>(db, ['tenantId'], (p) => (returning ? bump(p).returning('zxid') : bump(p)));
    this.zxid = new PrecompiledQuery<{ tenantId: string }, { zxid: Int }>(db, ['tenantId'], (p) => db.selectFrom('coord_tenants').select('zxid').where('tenant_id', '=', p.tenantId));
    this.session = new PrecompiledQuery<{ tenantId: string; sessionId: string }, { expires_at: Int; request_id: string | null }>(db, ['tenantId', 'sessionId'], (p) =>
      db.selectFrom('coord_sessions').select(['expires_at', 'request_id']).where('session_id', '=', p.sessionId).where('tenant_id', '=', p.tenantId),
    );
    type Changed = Where & { data: string; dataLength: number; version: number; zxid: number; mtime: number };
    this.setData = new PrecompiledQuery<Changed, never>(db, ['tenantId', 'path', 'data', 'dataLength', 'version', 'zxid', 'mtime'], (p) =>
      db.updateTable('coord_nodes').set({ data: p.data, data_length: p.dataLength, version: p.version, mzxid: p.zxid, mtime: p.mtime }).where('tenant_id', '=', p.tenantId).where('path', '=', p.path),
    );
    const columns = ['tenant_id', 'path', 'parent', 'data', 'czxid', 'mzxid', 'pzxid', 'version', 'cversion', 'ctime', 'mtime', 'ephemeral_owner', 'num_children', 'data_length'] as const;
    this.insertNode = new PrecompiledQuery<NodeRow, never>(db, columns, (row) => db.insertInto('coord_nodes').values(row));
    this.deleteNode = new PrecompiledQuery<Where, never>(db, ['tenantId', 'path'], (p) => db.deleteFrom('coord_nodes').where('tenant_id', '=', p.tenantId).where('path', '=', p.path));
    this.childrenChanged = new PrecompiledQuery<Where & { by: number; zxid: number }, never>(db, ['tenantId', 'path', 'by', 'zxid'], (p) =>
      db
        .updateTable('coord_nodes')
        .set({ num_children: sql<Int>`num_children + ${p.by}`, cversion: sql<Int>`cversion + 1`, pzxid: p.zxid })
        .where('tenant_id', '=', p.tenantId)
        .where('path', '=', p.path),
    );
    this.children = new PrecompiledQuery<Where, { path: string }>(db, ['tenantId', 'path'], (p) =>
      db.selectFrom('coord_nodes').select('path').where('tenant_id', '=', p.tenantId).where('parent', '=', p.path).orderBy('path'),
    );
    this.anyEvent = new PrecompiledQuery<{ tenantId: string; sessionId: string }, { zxid: Int }>(db, ['tenantId', 'sessionId'], (p) =>
      db.selectFrom('coord_events').select('zxid').where('session_id', '=', p.sessionId).where('tenant_id', '=', p.tenantId).limit(1),
    );
    this.watchesOn = new PathsQuery(db, (tenantId, paths) => db.selectFrom('coord_watches').selectAll().where('tenant_id', '=', tenantId).where('path', 'in', paths));
    this.subscribersOn = new PathsQuery(db, (tenantId, paths) =>
      db
        .selectFrom('node_subscriptions as s')
        .innerJoin('functions as f', 'f.function_id', 's.function_id')
        .select(['s.function_id as function_id', 's.path as path', 's.children as children', 'f.user_id as user_id'])
        .where('s.tenant_id', '=', tenantId)
        .where('s.path', 'in', paths)
        .orderBy('s.function_id'),
    );
    this.triggerDepth = new PrecompiledQuery<{ requestId: string }, { trigger_depth: number | null }>(db, ['requestId'], (p) =>
      db.selectFrom('requests').select('trigger_depth').where('request_id', '=', p.requestId),
    );
  }
}

export class SqlCoordinationStore implements CoordinationStore {
  private readonly sqlite: boolean;
  private readonly returning: boolean;
  private readonly queries: CoordinationQueries;
  /** Projects whose counter row and root node are known to exist. */
  private readonly ready = new Set<string>();

  constructor(private readonly db: Kysely<CoordinationTables>) {
    const { adapter } = db.getExecutor();
    this.sqlite = adapter instanceof SqliteAdapter;
    this.returning = adapter.supportsReturning;
    this.queries = new CoordinationQueries(db, this.returning);
  }

  async createSession(session: SessionRecord): Promise<void> {
    await this.db.insertInto('coord_sessions').values(session).execute();
  }

  async getSession(tenantId: string, sessionId: string): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('coord_sessions').selectAll().where('session_id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
    return row && { ...row, timeout_ms: Number(row.timeout_ms), expires_at: Number(row.expires_at) };
  }

  async touchSession(tenantId: string, sessionId: string, nowMs: number, expiresAt: number): Promise<boolean> {
    const result = await this.db
      .updateTable('coord_sessions')
      .set({ expires_at: expiresAt })
      .where('session_id', '=', sessionId)
      .where('tenant_id', '=', tenantId)
      .where('expires_at', '>', nowMs)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async closeSession(tenantId: string, sessionId: string, nowMs: number): Promise<WriteResult | undefined> {
    await this.prepareTenant(tenantId);
    return this.db.transaction().execute(async (trx) => {
      await this.lockTenant(trx, tenantId);
      const session = await trx.selectFrom('coord_sessions').select('request_id').where('session_id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
      if (session === undefined) return undefined;
      const gone = await trx.deleteFrom('coord_sessions').where('session_id', '=', sessionId).where('tenant_id', '=', tenantId).executeTakeFirst();
      if (gone.numDeletedRows === 0n) return undefined;
      const zxid = await this.nextZxid(trx, tenantId);
      // Its own watches go first: a closing session hears nothing of its own end.
      await trx.deleteFrom('coord_watches').where('session_id', '=', sessionId).execute();
      await trx.deleteFrom('coord_events').where('session_id', '=', sessionId).execute();
      const ephemerals = await trx.selectFrom('coord_nodes').select('path').where('tenant_id', '=', tenantId).where('ephemeral_owner', '=', sessionId).orderBy('path').execute();
      const changes: Change[] = [];
      const results: OpResult[] = [];
      for (const { path } of ephemerals) results.push(await this.apply(trx, tenantId, sessionId, { op: 'delete', path, version: ANY_VERSION }, zxid, nowMs, changes));
      return { zxid, results, notified: await this.fire(trx, tenantId, zxid, changes), requests: await this.trigger(trx, tenantId, session.request_id, zxid, changes, nowMs) };
    });
  }

  async expiredSessions(nowMs: number, limit: number): Promise<{ tenant_id: string; session_id: string }[]> {
    return this.db.selectFrom('coord_sessions').select(['tenant_id', 'session_id']).where('expires_at', '<=', nowMs).orderBy('expires_at').limit(limit).execute();
  }

  async write(tenantId: string, sessionId: string | undefined, ops: readonly Op[], nowMs: number): Promise<WriteResult> {
    await this.prepareTenant(tenantId);
    return this.db.transaction().execute(async (trx) => {
      const zxid = await this.nextZxid(trx, tenantId);
      const writer = sessionId === undefined ? null : await this.liveSession(trx, tenantId, sessionId, nowMs);
      const changes: Change[] = [];
      const results: OpResult[] = [];
      for (const [index, op] of ops.entries()) {
        try {
          results.push(await this.apply(trx, tenantId, sessionId, op, zxid, nowMs, changes));
        } catch (error) {
          if (!(error instanceof PrataiError)) throw error;
          // A multi of one op names its op too: a client builds ZooKeeper's per-op results from it.
          throw new PrataiError(error.code, ops.length > 1 ? `Operation ${index} of the multi: ${error.message}` : error.message, { details: { ...error.details, index } });
        }
      }
      return { zxid, results, notified: await this.fire(trx, tenantId, zxid, changes), requests: await this.trigger(trx, tenantId, writer, zxid, changes, nowMs) };
    });
  }

  async read(tenantId: string, sessionId: string | undefined, read: Read, nowMs: number): Promise<ReadResult> {
    await this.prepareTenant(tenantId);
    if (!read.watch || sessionId === undefined) return this.readIn(this.db, tenantId, read);
    return this.db.transaction().execute(async (trx) => {
      await this.lockTenant(trx, tenantId);
      await this.liveSession(trx, tenantId, sessionId, nowMs);
      const result = await this.readIn(trx, tenantId, read);
      const kind: WatchKind = read.read === 'children' ? 'child' : 'data';
      const set = await trx.selectFrom('coord_watches').select('path').where('session_id', '=', sessionId).where('path', '=', read.path).where('kind', '=', kind).executeTakeFirst();
      if (set === undefined) await trx.insertInto('coord_watches').values({ session_id: sessionId, tenant_id: tenantId, path: read.path, kind }).execute();
      return result;
    });
  }

  async takeEvents(tenantId: string, sessionId: string): Promise<WatchEvent[]> {
    const any = await this.queries.anyEvent.execute({ tenantId, sessionId });
    if (any.rows.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      // Locked, then deleted: of two takers at once, the second finds them gone.
      const query = trx.selectFrom('coord_events').selectAll().where('session_id', '=', sessionId).where('tenant_id', '=', tenantId).orderBy('zxid').orderBy('seq');
      const rows = await (this.sqlite ? query : query.forUpdate()).execute();
      const last = rows.at(-1);
      if (last === undefined) return [];
      await trx
        .deleteFrom('coord_events')
        .where('session_id', '=', sessionId)
        .where((eb) => eb.or([eb('zxid', '<', last.zxid), eb.and([eb('zxid', '=', last.zxid), eb('seq', '<=', last.seq)])]))
        .execute();
      return rows.map((row) => ({ type: row.type, path: row.path, zxid: Number(row.zxid), watch: row.kind }));
    });
  }

  /** Makes the project's counter row and root node, once; racing processes both succeed. */
  private async prepareTenant(tenantId: string): Promise<void> {
    if (this.ready.has(tenantId)) return;
    const insertIgnoring = async (insert: () => Promise<unknown>): Promise<void> => {
      try {
        await insert();
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    };
    const counter = await this.db.selectFrom('coord_tenants').select('tenant_id').where('tenant_id', '=', tenantId).executeTakeFirst();
    if (counter === undefined) await insertIgnoring(() => this.db.insertInto('coord_tenants').values({ tenant_id: tenantId, zxid: 0 }).execute());
    const root = await this.db.selectFrom('coord_nodes').select('path').where('tenant_id', '=', tenantId).where('path', '=', '/').executeTakeFirst();
    if (root === undefined) {
      const row: NodeRow = { tenant_id: tenantId, path: '/', parent: '', data: '', czxid: 0, mzxid: 0, pzxid: 0, version: 0, cversion: 0, ctime: 0, mtime: 0, ephemeral_owner: '', num_children: 0, data_length: 0 };
      await insertIgnoring(() => this.db.insertInto('coord_nodes').values(row).execute());
    }
    this.ready.add(tenantId);
  }

  /** Locks the project's counter row, without moving it (SQLite's transaction holds the write lock already). */
  private async lockTenant(trx: Transaction<CoordinationTables>, tenantId: string): Promise<void> {
    if (!this.sqlite) await trx.selectFrom('coord_tenants').select('zxid').where('tenant_id', '=', tenantId).forUpdate().execute();
  }

  /** The project's next zxid, its counter row locked until the transaction ends. */
  private async nextZxid(trx: Transaction<CoordinationTables>, tenantId: string): Promise<number> {
    const bumped = await this.queries.bump.execute({ tenantId }, trx);
    const row = this.returning ? bumped.rows[0] : (await this.queries.zxid.execute({ tenantId }, trx)).rows[0];
    if (row === undefined) throw new Error(`The coordination counter of project ${tenantId} is missing`);
    return Number(row.zxid);
  }

  /** Throws SessionExpired unless the session is alive at `nowMs`; returns the function request it serves, if any. */
  private async liveSession(trx: Db, tenantId: string, sessionId: string, nowMs: number): Promise<string | null> {
    const [row] = (await this.queries.session.execute({ tenantId, sessionId }, trx)).rows;
    if (row === undefined || Number(row.expires_at) <= nowMs) {
      throw new PrataiError('SessionExpired', `Session ${sessionId} has expired or was closed: its ephemeral nodes and watches are gone; open a new session`, { details: { session_id: sessionId } });
    }
    return row.request_id;
  }

  private async node(db: Db, tenantId: string, path: string): Promise<NodeRow | undefined> {
    return (await this.queries.node.execute({ tenantId, path }, db)).rows[0];
  }

  private async readIn(db: Db, tenantId: string, read: Read): Promise<ReadResult> {
    const row = await this.node(db, tenantId, read.path);
    if (read.read === 'exists') return { read: 'exists', stat: row ? statOf(row) : null };
    if (row === undefined) throw noNode(read.path);
    if (read.read === 'get') return { read: 'get', data: Buffer.from(row.data, 'base64'), stat: statOf(row) };
    const children = (await this.queries.children.execute({ tenantId, path: read.path }, db)).rows;
    return { read: 'children', children: children.map(({ path }) => nameOf(path)), stat: statOf(row) };
  }

  private async apply(trx: Transaction<CoordinationTables>, tenantId: string, sessionId: string | undefined, op: Op, zxid: number, nowMs: number, changes: Change[]): Promise<OpResult> {
    switch (op.op) {
      case 'create': {
        const parentPath = parentOf(op.path);
        if (!op.sequential && op.path === '/') throw new PrataiError('NodeExists', 'Node / exists: it is the root', { details: { path: '/' } });
        const parent = await this.node(trx, tenantId, parentPath);
        if (parent === undefined) throw noNode(parentPath, ` (the parent of ${op.path})`);
        if (parent.ephemeral_owner !== '') {
          throw new PrataiError('NoChildrenForEphemerals', `Node ${parentPath} is ephemeral: an ephemeral node has no children`, { details: { path: parentPath } });
        }
        const path = op.sequential ? sequentialPath(op.path, childrenCreated(parent)) : op.path;
        if ((await this.node(trx, tenantId, path)) !== undefined) throw new PrataiError('NodeExists', `Node ${path} exists`, { details: { path } });
        if (op.ephemeral && sessionId === undefined) throw new PrataiError('BadArguments', `Expected a session to own the ephemeral node ${path}, got none`);
        const row: NodeRow = {
          tenant_id: tenantId,
          path,
          parent: parentPath,
          data: op.data.toString('base64'),
          czxid: zxid,
          mzxid: zxid,
          pzxid: zxid,
          version: 0,
          cversion: 0,
          ctime: nowMs,
          mtime: nowMs,
          ephemeral_owner: op.ephemeral ? (sessionId ?? '') : '',
          num_children: 0,
          data_length: op.data.length,
        };
        await this.queries.insertNode.execute(row, trx);
        await this.childrenChanged(trx, tenantId, parentPath, zxid, +1);
        changes.push({ type: 'NodeCreated', path }, { type: 'NodeChildrenChanged', path: parentPath });
        return { op: 'create', path, stat: statOf(row) };
      }
      case 'set': {
        const row = await this.node(trx, tenantId, op.path);
        if (row === undefined) throw noNode(op.path);
        checkVersion(row, op.path, op.version);
        const changed = { data: op.data.toString('base64'), data_length: op.data.length, version: Number(row.version) + 1, mzxid: zxid, mtime: nowMs };
        await this.queries.setData.execute({ tenantId, path: op.path, data: changed.data, dataLength: changed.data_length, version: changed.version, zxid, mtime: nowMs }, trx);
        changes.push({ type: 'NodeDataChanged', path: op.path });
        return { op: 'set', path: op.path, stat: statOf({ ...row, ...changed }) };
      }
      case 'delete': {
        if (op.path === '/') throw new PrataiError('BadArguments', 'Expected a node below the root, got `/`: the root cannot be deleted');
        const row = await this.node(trx, tenantId, op.path);
        if (row === undefined) throw noNode(op.path);
        checkVersion(row, op.path, op.version);
        if (Number(row.num_children) > 0) throw new PrataiError('NotEmpty', `Node ${op.path} has ${Number(row.num_children)} children: delete them first`, { details: { path: op.path } });
        await this.queries.deleteNode.execute({ tenantId, path: op.path }, trx);
        await this.childrenChanged(trx, tenantId, row.parent, zxid, -1);
        changes.push({ type: 'NodeDeleted', path: op.path }, { type: 'NodeChildrenChanged', path: row.parent });
        return { op: 'delete', path: op.path };
      }
      case 'check': {
        const row = await this.node(trx, tenantId, op.path);
        if (row === undefined) throw noNode(op.path);
        checkVersion(row, op.path, op.version);
        return { op: 'check', path: op.path };
      }
    }
  }

  private async childrenChanged(trx: Transaction<CoordinationTables>, tenantId: string, parent: string, zxid: number, by: 1 | -1): Promise<void> {
    await this.queries.childrenChanged.execute({ tenantId, path: parent, by, zxid }, trx);
  }

  /**
   * Makes, in the write's transaction, the requests its changes make of the functions subscribed
   * to their nodes: one per change and function, however many of the function's subscriptions
   * the change fires, in the changes' order. `writer`: the function request whose session wrote,
   * whose place in a chain of node requests the new ones follow (none: an outside write).
   */
  private async trigger(trx: Transaction<CoordinationTables>, tenantId: string, writer: string | null, zxid: number, changes: readonly Change[], nowMs: number): Promise<RequestRecord[]> {
    const nodeChanges = changes.filter((change): change is NodeChange => change.type !== 'NodeChildrenChanged');
    if (nodeChanges.length === 0) return [];
    const subscribers = await this.queries.subscribersOn.execute(trx, tenantId, [...new Set(nodeChanges.flatMap(pathsFiredBy))]);
    if (subscribers.length === 0) return [];
    const depth = (await this.depthOf(trx, writer)) + 1;
    const at = new Date(nowMs).toISOString();
    const requests: RequestRecord[] = [];
    for (const change of nodeChanges) {
      const made = new Set<string>();
      for (const { function_id, path, children, user_id } of subscribers) {
        if (made.has(function_id) || !fires(change, { path, children: Number(children) === 1 })) continue;
        made.add(function_id);
        requests.push(nodeRequest({ function_id, tenant_id: tenantId, user_id }, { type: change.type, path: change.path, zxid }, depth, at));
      }
    }
    for (let start = 0; start < requests.length; start += INSERT_BATCH) {
      await trx.insertInto('requests').values(requests.slice(start, start + INSERT_BATCH).map(requestRow)).execute();
    }
    return requests;
  }

  /** A request's place in a chain of node requests: 0 for none, or one a node change did not make. */
  private async depthOf(trx: Transaction<CoordinationTables>, requestId: string | null): Promise<number> {
    if (requestId === null) return 0;
    const [row] = (await this.queries.triggerDepth.execute({ requestId }, trx)).rows;
    return Number(row?.trigger_depth ?? 0);
  }

  /** Fires the watches the changes trigger, each once: its event stored for its session, the watch removed. */
  private async fire(trx: Transaction<CoordinationTables>, tenantId: string, zxid: number, changes: readonly Change[]): Promise<string[]> {
    if (changes.length === 0) return [];
    const paths = [...new Set(changes.map((change) => change.path))];
    const watches = await this.queries.watchesOn.execute(trx, tenantId, paths);
    if (watches.length === 0) return [];
    const pending = new Set(watches);
    const events: CoordinationTables['coord_events'][] = [];
    const seq = new Map<string, number>();
    for (const change of changes) {
      for (const kind of FIRES[change.type]) {
        for (const watch of pending) {
          if (watch.path !== change.path || watch.kind !== kind) continue;
          pending.delete(watch);
          const next = seq.get(watch.session_id) ?? 0;
          seq.set(watch.session_id, next + 1);
          events.push({ session_id: watch.session_id, tenant_id: tenantId, zxid, seq: next, type: change.type, path: change.path, kind });
          await trx.deleteFrom('coord_watches').where('session_id', '=', watch.session_id).where('path', '=', watch.path).where('kind', '=', watch.kind).execute();
        }
      }
    }
    if (events.length > 0) await trx.insertInto('coord_events').values(events).execute();
    return [...seq.keys()];
  }
}
