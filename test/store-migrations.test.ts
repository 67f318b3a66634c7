/**
 * Schema migrations as operators meet them: processes starting at once against one fresh database
 * (Kysely's Migrator lock: GET_LOCK on MariaDB, an advisory lock on PostgreSQL, an IMMEDIATE
 * transaction on SQLite) and `pratai-manage db-sync`. Real processes, because what is locked out
 * is another process's session.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Kysely, sql } from 'kysely';
import { migrations } from '../common/store/migrations.js';
import { createSqlDialect, type SqlLocation } from '../common/store/sql-dialect.js';
import { SqlStore } from '../common/store/sql-store.js';
import { parseStoreUrl } from '../common/store/url.js';
import { createTestDatabase, type TestDatabaseKind } from './helpers/databases.js';

const here = (path: string): string => new URL(path, import.meta.url).href;

/**
 * A process that migrates `url` with the real migrations plus a probe: a migration that records
 * its process and then holds the lock a while, so that a second process arriving unlocked would
 * run it too.
 */
const MIGRATING_CHILD = `
import { sql } from 'kysely';
import { migrations } from ${JSON.stringify(here('../common/store/migrations.ts'))};
import { SqlStore } from ${JSON.stringify(here('../common/store/sql-store.ts'))};
import { parseStoreUrl } from ${JSON.stringify(here('../common/store/url.ts'))};
const probe = {
  async up(db) {
    await db.schema.createTable('probe_run').addColumn('pid', 'integer').execute();
    await sql\`insert into probe_run (pid) values (\${process.pid})\`.execute(db);
    await new Promise((resolve) => setTimeout(resolve, 500));
  },
};
const store = SqlStore.open(parseStoreUrl(process.env.PRATAI_TEST_URL), { poolSize: 2, migrations: { ...migrations, '9999_probe': probe } });
try {
  await store.migrate();
} finally {
  await store.close();
}
`;

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

async function count(url: string, table: string): Promise<number> {
  const db = new Kysely<Record<string, never>>({ dialect: createSqlDialect(parseStoreUrl(url) as SqlLocation, { poolSize: 1 }) });
  try {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(db);
    return Number(rows[0]?.n);
  } finally {
    await db.destroy();
  }
}

describe('migrations from processes starting at once', () => {
  for (const [kind, label] of [['sqlite', 'SQLite'], ['mysql', 'MariaDB'], ['postgres', 'PostgreSQL']] as [TestDatabaseKind, string][]) {
    test(`two processes migrating a fresh ${label} database at once both start, and each migration runs once`, async () => {
      const database = await createTestDatabase(kind);
      try {
        const args = ['--import', 'tsx', '--input-type=module', '--eval', MIGRATING_CHILD];
        const results = await Promise.all([0, 1].map(() => run(args, { PRATAI_TEST_URL: database.url })));
        for (const { code, output } of results) assert.equal(code, 0, output);
        assert.equal(await count(database.url, 'probe_run'), 1, 'the probe migration ran in one process only');
        assert.equal(await count(database.url, 'pratai_migration'), Object.keys(migrations).length + 1);
        assert.equal(await count(database.url, 'runtimes'), 1);
      } finally {
        await database.drop();
      }
    });
  }
});

test('pratai-manage db-sync makes the schema of a fresh database, and again finds nothing to do', async () => {
  const manage = new URL('../dist/bin/pratai-manage.js', import.meta.url).pathname;
  assert.ok(existsSync(manage), 'dist/ is built (npm run build)');
  const database = await createTestDatabase('sqlite');
  try {
    for (let i = 0; i < 2; i += 1) {
      const { code, output } = await run([manage, 'db-sync'], { PRATAI_DATABASE_CONNECTION: database.url });
      assert.equal(code, 0, output);
      assert.match(output, /database schema is up to date/);
    }
    assert.equal(await count(database.url, 'pratai_migration'), Object.keys(migrations).length);
  } finally {
    await database.drop();
  }
});

describe('upgrading a database that holds rows', () => {
  for (const [kind, label] of [['sqlite', 'SQLite'], ['mysql', 'MariaDB'], ['postgres', 'PostgreSQL']] as [TestDatabaseKind, string][]) {
    test(`a ${label} database of 0001_initial with a function and a request in it upgrades: no retries, no limit, no network, not dead-lettered, queued since created`, async () => {
      const database = await createTestDatabase(kind);
      const first = { '0001_initial': migrations['0001_initial']! };
      const old = SqlStore.open(parseStoreUrl(database.url) as SqlLocation, { poolSize: 1, migrations: first });
      const created = '2026-01-01T00:00:00.000Z';
      try {
        await old.migrate();
        const db = new Kysely<Record<string, never>>({ dialect: createSqlDialect(parseStoreUrl(database.url) as SqlLocation, { poolSize: 1 }) });
        try {
          await sql`insert into functions (function_id, user_id, tenant_id, name, description, type, event, public, runtime, memory, cpus, timeout, status, build_log, code_sha256, module, requirements, created_at, updated_at)
            values (${'f'.repeat(32)}, 'u', 't', 'old', '', 'async', 'webhook', 0, 'python3', 128, 1, 30, 'ready', '', ${'a'.repeat(64)}, 'def main(payload=None): pass', '', ${created}, ${created})`.execute(db);
          await sql`insert into requests (request_id, function_id, tenant_id, user_id, status, payload, response, error, logs, attempts, created_at, started_at, finished_at, duration_ms)
            values (${'r'.repeat(32)}, ${'f'.repeat(32)}, 't', 'u', 'queued', 'null', null, null, '[]', 0, ${created}, null, null, null)`.execute(db);
        } finally {
          await db.destroy();
        }
      } finally {
        await old.close();
      }
      const store = SqlStore.open(parseStoreUrl(database.url) as SqlLocation, { poolSize: 1 });
      try {
        await store.migrate();
        const fn = await store.getFunction('f'.repeat(32), 'all-tenants');
        assert.deepEqual([fn?.retries, fn?.retry_on_error, fn?.max_concurrency, fn?.network], [0, false, 0, false]);
        assert.equal((await store.getRequest('r'.repeat(32), 'all-tenants'))?.dead_letter, false);
        const stale = await store.listRequests('all-tenants', { limit: 10, status: 'queued', queuedBefore: '2026-01-02T00:00:00.000Z' });
        assert.deepEqual(stale.map((request) => request.request_id), ['r'.repeat(32)]);
        const start = await store.startRequest('r'.repeat(32), { jobId: 'job-1', at: created });
        assert.ok(start.started);
      } finally {
        await store.close();
        await database.drop();
      }
    });
  }
});
