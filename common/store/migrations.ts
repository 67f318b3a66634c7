/**
 * Versioned schema migrations, applied in name order by Kysely's Migrator, which holds a lock
 * while it runs them (GET_LOCK on MySQL/MariaDB, an advisory lock on PostgreSQL, the write lock of
 * an IMMEDIATE transaction on SQLite): two processes starting at once do not both run one.
 *
 * Never edit a migration that has shipped: add the next one (`'0002_…': { async up(db) {…} }`).
 * Column types are portable: ids and ISO-8601 times as varchar, booleans as 0/1 integers, JSON
 * documents as text; `bigText(db)` for text that may hold megabytes.
 */
import { MysqlAdapter, sql, type CreateTableBuilder, type Kysely, type Migration, type RawBuilder } from 'kysely';

export const PYTHON3_RUNTIME = {
  name: 'python3',
  description: 'Python 3 (Debian bookworm python3 3.11): new_module.py with main(payload), requirements.txt installed with pip',
  image: 'pratai/runtime-python3:latest',
};

const isMysql = (db: Kysely<unknown>): boolean => db.getExecutor().adapter instanceof MysqlAdapter;

/** Text that may hold megabytes (logs, payloads, code): MySQL's TEXT stops at 64 KiB, LONGTEXT at 4 GiB. */
export const bigText = (db: Kysely<unknown>): RawBuilder<unknown> => (isMysql(db) ? sql`longtext` : sql`text`);

/**
 * MySQL/MariaDB tables in utf8mb4 (emoji included) with a binary collation, so that names compare
 * byte for byte as on SQLite and PostgreSQL: `Hello` and `hello` are two functions everywhere.
 */
export function portableTable<T extends string, C extends string>(db: Kysely<unknown>, table: CreateTableBuilder<T, C>): CreateTableBuilder<T, C> {
  return isMysql(db) ? table.modifyEnd(sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin`) : table;
}

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      const text = bigText(db);
      await portableTable(db, db.schema.createTable('functions'))
        .addColumn('function_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('event', 'varchar(32)', (c) => c.notNull())
        .addColumn('public', 'integer', (c) => c.notNull())
        .addColumn('runtime', 'varchar(64)', (c) => c.notNull())
        .addColumn('memory', 'integer', (c) => c.notNull())
        .addColumn('cpus', 'double precision', (c) => c.notNull())
        .addColumn('timeout', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('build_log', text, (c) => c.notNull())
        .addColumn('code_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('module', text, (c) => c.notNull())
        .addColumn('requirements', text, (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addUniqueConstraint('functions_tenant_name', ['tenant_id', 'name'])
        .execute();

      await portableTable(db, db.schema.createTable('requests'))
        .addColumn('request_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('payload', text, (c) => c.notNull())
        .addColumn('response', text)
        .addColumn('error', text)
        .addColumn('logs', text, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)')
        .addColumn('finished_at', 'varchar(32)')
        .addColumn('duration_ms', 'double precision')
        .execute();
      // A tenant's requests newest first; everyone's (admin); a function's by status (cancelling
      // its queued ones); the finished ones by age (the retention purge).
      await db.schema.createIndex('requests_tenant_created').on('requests').columns(['tenant_id', 'created_at', 'request_id']).execute();
      await db.schema.createIndex('requests_created').on('requests').columns(['created_at', 'request_id']).execute();
      await db.schema.createIndex('requests_function_status').on('requests').columns(['function_id', 'status']).execute();
      await db.schema.createIndex('requests_finished').on('requests').columns(['finished_at']).execute();

      await portableTable(db, db.schema.createTable('runtimes'))
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('image', 'varchar(255)', (c) => c.notNull())
        .execute();
      await sql`insert into runtimes (name, description, image) values (${PYTHON3_RUNTIME.name}, ${PYTHON3_RUNTIME.description}, ${PYTHON3_RUNTIME.image})`.execute(db);

      await portableTable(db, db.schema.createTable('runners'))
        .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('docker_ok', 'integer', (c) => c.notNull())
        .addColumn('images', text, (c) => c.notNull())
        .addColumn('heartbeat_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
  },
  '0002_retries_dead_letters_concurrency': {
    async up(db: Kysely<unknown>): Promise<void> {
      // One column a statement: SQLite's ALTER TABLE adds one at a time.
      const integers = { functions: ['retries', 'retry_on_error', 'max_concurrency', 'running'], requests: ['dead_letter', 'holds_slot'] };
      for (const [table, columns] of Object.entries(integers)) {
        for (const column of columns) await db.schema.alterTable(table).addColumn(column, 'integer', (c) => c.notNull().defaultTo(0)).execute();
      }
      await db.schema.alterTable('requests').addColumn('job_id', 'varchar(32)').execute();
      await db.schema.alterTable('requests').addColumn('queued_at', 'varchar(32)', (c) => c.notNull().defaultTo('')).execute();
      await sql`update requests set queued_at = created_at`.execute(db);
      // The dead letters newest first (an admin's listing); the queued ones by when they were
      // queued (the sweeper).
      await db.schema.createIndex('requests_dead_letter').on('requests').columns(['dead_letter', 'created_at', 'request_id']).execute();
      await db.schema.createIndex('requests_status_queued').on('requests').columns(['status', 'queued_at']).execute();
    },
  },
  '0003_function_network': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Functions stored before it never had network, and keep none until they ask.
      await db.schema.alterTable('functions').addColumn('network', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0004_partial_request_indexes': {
    /**
     * Every request is inserted, started and finished once: each index of `requests` it enters
     * or changes costs pages in every commit. Three indexes serve queries about few rows (the
     * queued, the dead letters, the finished for the purge); where the database has partial
     * indexes (SQLite, PostgreSQL; not MySQL/MariaDB) they now hold only those rows, so a new
     * request enters none of the dead-letter and finished ones, and leaves the queued one once.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      if (isMysql(db)) return;
      for (const name of ['requests_finished', 'requests_dead_letter', 'requests_status_queued']) await db.schema.dropIndex(name).execute();
      await db.schema.createIndex('requests_finished').on('requests').column('finished_at').where('finished_at', 'is not', null).execute();
      await db.schema.createIndex('requests_dead_letter').on('requests').columns(['created_at', 'request_id']).where(sql.ref('dead_letter'), '=', 1).execute();
      await db.schema.createIndex('requests_status_queued').on('requests').column('queued_at').where(sql.ref('status'), '=', 'queued').execute();
    },
  },
  '0005_secrets_and_context': {
    /**
     * Secrets of each tenant (sealed values only: common/secrets/), which functions name them
     * (so that one in use is not deleted, and its users are found by secret), and each function's
     * context and secret names. The two function columns stay nullable: MySQL gives a TEXT column
     * no plain default, and a null reads as an empty context and no secrets (rows.ts).
     */
    async up(db: Kysely<unknown>): Promise<void> {
      const text = bigText(db);
      await db.schema.alterTable('functions').addColumn('context', text).execute();
      await db.schema.alterTable('functions').addColumn('secrets', text).execute();
      await portableTable(db, db.schema.createTable('secrets'))
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('key_id', 'varchar(16)', (c) => c.notNull())
        .addColumn('ciphertext', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_tenant_name', ['tenant_id', 'name'])
        .execute();
      await portableTable(db, db.schema.createTable('function_secrets'))
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('secret_name', 'varchar(128)', (c) => c.notNull())
        .addPrimaryKeyConstraint('function_secrets_function_secret', ['function_id', 'secret_name'])
        .execute();
      await db.schema.createIndex('function_secrets_secret').on('function_secrets').columns(['tenant_id', 'secret_name']).execute();
    },
  },
  '0006_runner_identity': {
    /**
     * A heartbeat says which process sent it (host, pid, an id new at each start, when it
     * started): a runner refuses a name a live process holds, and takes over one whose holder died.
     * Rows of runners from before it carry none; they count as another process's.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('runners').addColumn('host', 'varchar(255)', (c) => c.notNull().defaultTo('')).execute();
      await db.schema.alterTable('runners').addColumn('pid', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('runners').addColumn('instance_id', 'varchar(64)', (c) => c.notNull().defaultTo('')).execute();
      await db.schema.alterTable('runners').addColumn('started_at', 'varchar(32)', (c) => c.notNull().defaultTo('')).execute();
    },
  },
  '0007_context_delivery': {
    /**
     * What a run hands its function beyond the payload: the webhook call's headers that
     * `[api] context_headers` lets through, kept with the request (so a retry, a redelivery or the
     * sweeper's new job carries them too), and a function's OpenStack identity (its Keystone trust).
     * Both nullable: null reads as none.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('requests').addColumn('headers', sql`text`).execute();
      await db.schema.alterTable('functions').addColumn('openstack', sql`text`).execute();
    },
  },
  '0008_triggers': {
    /**
     * Triggers beyond the webhook: timers (the API's jobs) and their ticks' requests, events and
     * the functions subscribed to them. A request records its source (null: a webhook, as every
     * request stored before), the timer that made it and the tick's instant. The timers due are
     * found by `next_execution_time` among the running ones; a tick is claimed by a conditional
     * update of the timer's `version`.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      const text = bigText(db);
      await db.schema.alterTable('requests').addColumn('source', 'varchar(16)').execute();
      await db.schema.alterTable('requests').addColumn('timer_id', 'varchar(32)').execute();
      await db.schema.alterTable('requests').addColumn('scheduled_at', 'varchar(32)').execute();
      await db.schema.createIndex('requests_timer').on('requests').columns(['timer_id', 'created_at']).execute();
      await db.schema.alterTable('functions').addColumn('subscriptions', text).execute();
      await portableTable(db, db.schema.createTable('timers'))
        .addColumn('timer_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('pattern', 'varchar(255)', (c) => c.notNull())
        .addColumn('timezone', 'varchar(64)', (c) => c.notNull())
        .addColumn('payload', text, (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('count', 'integer')
        .addColumn('executions', 'integer', (c) => c.notNull())
        .addColumn('skipped', 'integer', (c) => c.notNull())
        .addColumn('first_execution_time', 'varchar(32)')
        .addColumn('next_execution_time', 'varchar(32)')
        .addColumn('last_execution_time', 'varchar(32)')
        .addColumn('last_request_ids', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('timers_due').on('timers').columns(['status', 'next_execution_time']).execute();
      await db.schema.createIndex('timers_tenant').on('timers').columns(['tenant_id', 'created_at']).execute();
      await db.schema.createIndex('timers_function').on('timers').column('function_id').execute();
      await portableTable(db, db.schema.createTable('events'))
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('events_tenant_name', ['tenant_id', 'name'])
        .execute();
      await portableTable(db, db.schema.createTable('subscriptions'))
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('event_name', 'varchar(128)', (c) => c.notNull())
        .addPrimaryKeyConstraint('subscriptions_function_event', ['function_id', 'event_name'])
        .execute();
      await db.schema.createIndex('subscriptions_event').on('subscriptions').columns(['tenant_id', 'event_name']).execute();
    },
  },
  '0009_runner_load': {
    /**
     * A heartbeat reports what the runner holds (`load`: concurrency, requests running,
     * containers, whether it drains) for `GET /v1/runners`; an administrator's request to drain
     * waits in `drain_requested` for the runner's next heartbeat to read it.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('runners').addColumn('load', 'varchar(512)', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.alterTable('runners').addColumn('drain_requested', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0010_function_versions': {
    /**
     * Published versions of functions (a snapshot of settings and code each) and their aliases; the
     * highest number a function ever published (so that none is given twice); the version each
     * request runs and the alias it came through (null on rows before it: `latest`, none).
     */
    async up(db: Kysely<unknown>): Promise<void> {
      const text = bigText(db);
      await db.schema.alterTable('functions').addColumn('last_version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('requests').addColumn('version', 'varchar(16)').execute();
      await db.schema.alterTable('requests').addColumn('alias', 'varchar(64)').execute();
      await portableTable(db, db.schema.createTable('function_versions'))
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('runtime', 'varchar(64)', (c) => c.notNull())
        .addColumn('memory', 'integer', (c) => c.notNull())
        .addColumn('cpus', 'double precision', (c) => c.notNull())
        .addColumn('timeout', 'integer', (c) => c.notNull())
        .addColumn('retries', 'integer', (c) => c.notNull())
        .addColumn('retry_on_error', 'integer', (c) => c.notNull())
        .addColumn('network', 'integer', (c) => c.notNull())
        .addColumn('context', text, (c) => c.notNull())
        .addColumn('secrets', text, (c) => c.notNull())
        .addColumn('code_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('module', text, (c) => c.notNull())
        .addColumn('requirements', text, (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('function_versions_function_version', ['function_id', 'version'])
        .execute();
      await portableTable(db, db.schema.createTable('function_aliases'))
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('weights', text, (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('function_aliases_function_name', ['function_id', 'name'])
        .execute();
    },
  },
  '0011_coordination': {
    /**
     * Coordination (common/coordination/): per project a zxid counter (the row every write locks
     * first), a tree of nodes keyed by path (data as base64 text), sessions, one-shot watches and
     * the events they fired, kept until their session takes them.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      const path = 'varchar(512)';
      await portableTable(db, db.schema.createTable('coord_tenants'))
        .addColumn('tenant_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('zxid', 'bigint', (c) => c.notNull())
        .execute();
      const nodes = portableTable(db, db.schema.createTable('coord_nodes'))
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('path', path, (c) => c.notNull())
        .addColumn('parent', path, (c) => c.notNull())
        .addColumn('data', bigText(db), (c) => c.notNull())
        .addColumn('ephemeral_owner', 'varchar(32)', (c) => c.notNull())
        .addColumn('czxid', 'bigint', (c) => c.notNull())
        .addColumn('mzxid', 'bigint', (c) => c.notNull())
        .addColumn('pzxid', 'bigint', (c) => c.notNull())
        .addColumn('ctime', 'bigint', (c) => c.notNull())
        .addColumn('mtime', 'bigint', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('cversion', 'integer', (c) => c.notNull())
        .addColumn('num_children', 'integer', (c) => c.notNull())
        .addColumn('data_length', 'integer', (c) => c.notNull());
      await nodes.addPrimaryKeyConstraint('coord_nodes_tenant_path', ['tenant_id', 'path']).execute();
      await db.schema.createIndex('coord_nodes_parent').on('coord_nodes').columns(['tenant_id', 'parent']).execute();
      await db.schema.createIndex('coord_nodes_ephemeral').on('coord_nodes').columns(['ephemeral_owner']).execute();
      await portableTable(db, db.schema.createTable('coord_sessions'))
        .addColumn('session_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('request_id', 'varchar(32)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('coord_sessions_expires').on('coord_sessions').columns(['expires_at']).execute();
      await portableTable(db, db.schema.createTable('coord_watches'))
        .addColumn('session_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('path', path, (c) => c.notNull())
        .addColumn('kind', 'varchar(8)', (c) => c.notNull())
        .addPrimaryKeyConstraint('coord_watches_session_path_kind', ['session_id', 'path', 'kind'])
        .execute();
      await db.schema.createIndex('coord_watches_path').on('coord_watches').columns(['tenant_id', 'path']).execute();
      await portableTable(db, db.schema.createTable('coord_events'))
        .addColumn('session_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('zxid', 'bigint', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('path', path, (c) => c.notNull())
        .addColumn('kind', 'varchar(8)', (c) => c.notNull())
        .addPrimaryKeyConstraint('coord_events_session_zxid_seq', ['session_id', 'zxid', 'seq'])
        .execute();
    },
  },
  '0012_workflows': {
    /**
     * Workflows (FaaSr documents over a hidden function holding their code), their invocations
     * (one per InvocationID of a workflow) and each action instance of an invocation, with the
     * request that runs it: a join's instances are inserted once, under their primary key.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      const text = bigText(db);
      await portableTable(db, db.schema.createTable('workflows'))
        .addColumn('workflow_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('document', text, (c) => c.notNull())
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addUniqueConstraint('workflows_tenant_name', ['tenant_id', 'name'])
        .execute();
      await portableTable(db, db.schema.createTable('workflow_invocations'))
        .addColumn('invocation_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('workflow_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('faasr_invocation_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('timestamp', 'varchar(32)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('document', text, (c) => c.notNull())
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('finished_at', 'varchar(32)')
        .addUniqueConstraint('workflow_invocations_workflow_faasr_id', ['workflow_id', 'faasr_invocation_id'])
        .execute();
      await portableTable(db, db.schema.createTable('workflow_actions'))
        .addColumn('invocation_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('action', 'varchar(255)', (c) => c.notNull())
        .addColumn('rank', 'integer', (c) => c.notNull())
        .addColumn('max_rank', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('request_id', 'varchar(32)')
        .addColumn('branch', 'integer')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('finished_at', 'varchar(32)')
        .addPrimaryKeyConstraint('workflow_actions_instance', ['invocation_id', 'action', 'rank'])
        .execute();
      await db.schema.createIndex('workflow_actions_request').on('workflow_actions').column('request_id').execute();
      await db.schema.createIndex('workflow_actions_status').on('workflow_actions').column('status').execute();
    },
  },
  '0013_qualified_triggers': {
    /**
     * A job (timer) and a subscription may run a version or an alias of their function rather
     * than `latest`: its `qualifier` (a version number or an alias name; null on earlier rows:
     * `latest`), resolved at each firing. A version or alias one names is in use.
     */
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('timers').addColumn('qualifier', 'varchar(64)').execute();
      await db.schema.alterTable('subscriptions').addColumn('qualifier', 'varchar(64)').execute();
    },
  },
  '0014_node_subscriptions': {
    /**
     * Functions' node subscriptions (common/coordination/triggers.ts): one row per function and
     * path, found by a coordination write by project and path in its own transaction; and, on a
     * request a node change made, its place in the chain of such requests (null on others).
     */
    async up(db: Kysely<unknown>): Promise<void> {
      await portableTable(db, db.schema.createTable('node_subscriptions'))
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('path', 'varchar(512)', (c) => c.notNull())
        .addColumn('children', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_subscriptions_function_path', ['function_id', 'path'])
        .execute();
      await db.schema.createIndex('node_subscriptions_path').on('node_subscriptions').columns(['tenant_id', 'path']).execute();
      await db.schema.alterTable('requests').addColumn('trigger_depth', 'integer').execute();
    },
  },
};
