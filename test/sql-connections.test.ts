/**
 * Connections a database server closes under the store (a restart, a failover, an operator's
 * kill), on MariaDB and PostgreSQL: the calls that were using them fail as ServiceUnavailable,
 * the process goes on, and the next calls connect anew.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Kysely, sql } from 'kysely';
import { PrataiError } from '../common/errors.js';
import { createSqlDialect } from '../common/store/sql-dialect.js';
import { parseStoreUrl } from '../common/store/url.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';

for (const kind of ['mysql', 'postgres'] as TestDatabaseKind[]) {
  describe(`connections closed by the server, on ${kind}`, () => {
    let database: TestDatabase;
    let db: Kysely<unknown>;

    before(async () => {
      database = await createTestDatabase(kind);
      const location = parseStoreUrl(database.url);
      if (location.kind === 'mongodb' || location.kind === 'sqlite') throw new Error('not a server database');
      db = new Kysely<unknown>({ dialect: createSqlDialect(location, { poolSize: 2 }) });
    });

    after(async () => {
      await db?.destroy();
      await database?.drop();
    });

    test('one held by a transaction between its statements fails that transaction, never the process; the next call connects anew', async () => {
      const failed = await db
        .transaction()
        .execute(async (trx) => {
          await sql`select 1`.execute(trx);
          // Its connection is checked out and idle when the server closes it: the client hears of
          // it with no query to fail, which must not become an uncaught error.
          await database.killConnections();
          await sleep(500);
          await sql`select 1`.execute(trx);
        })
        .then(() => undefined, (error: unknown) => error);
      assert.ok(failed instanceof PrataiError, `expected the transaction to fail, got ${String(failed)}`);
      assert.equal(failed.code, 'ServiceUnavailable');
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
      assert.equal(Number(rows[0]?.one), 1);
    });
  });
}
