/**
 * Versioned schema migrations, applied in name order by Kysely's Migrator (which takes a lock, so
 * two processes starting at once do not both run one). Never edit a migration that has shipped:
 * add the next one.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export const PYTHON3_RUNTIME = {
  name: 'python3',
  description: 'Python 3 (Debian bookworm python3 3.11): new_module.py with main(payload), requirements.txt installed with pip',
  image: 'pratai/runtime-python3:latest',
};

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('functions')
        .addColumn('function_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('event', 'varchar(32)', (c) => c.notNull())
        .addColumn('public', 'integer', (c) => c.notNull())
        .addColumn('runtime', 'varchar(64)', (c) => c.notNull())
        .addColumn('memory', 'integer', (c) => c.notNull())
        .addColumn('cpus', 'double precision', (c) => c.notNull())
        .addColumn('timeout', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('build_log', 'text', (c) => c.notNull())
        .addColumn('code_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('module', 'text', (c) => c.notNull())
        .addColumn('requirements', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addUniqueConstraint('functions_tenant_name', ['tenant_id', 'name'])
        .execute();

      await db.schema
        .createTable('requests')
        .addColumn('request_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('function_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('response', 'text')
        .addColumn('error', 'text')
        .addColumn('logs', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)')
        .addColumn('finished_at', 'varchar(32)')
        .addColumn('duration_ms', 'double precision')
        .execute();
      await db.schema.createIndex('requests_tenant_created').on('requests').columns(['tenant_id', 'created_at', 'request_id']).execute();
      await db.schema.createIndex('requests_function_status').on('requests').columns(['function_id', 'status']).execute();

      await db.schema
        .createTable('runtimes')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('image', 'varchar(255)', (c) => c.notNull())
        .execute();
      await sql`insert into runtimes (name, description, image) values (${PYTHON3_RUNTIME.name}, ${PYTHON3_RUNTIME.description}, ${PYTHON3_RUNTIME.image})`.execute(db);

      await db.schema
        .createTable('runners')
        .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('docker_ok', 'integer', (c) => c.notNull())
        .addColumn('images', 'text', (c) => c.notNull())
        .addColumn('heartbeat_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
  },
};
