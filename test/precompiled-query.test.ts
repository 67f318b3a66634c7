/**
 * Queries compiled once (common/store/precompiled-query.ts), on each SQL database the store runs on:
 * each call's values go in their places, constants of the query stay, and a query whose values
 * would not be parameters is refused when it is compiled rather than run wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kysely, sql } from 'kysely';
import { PrecompiledQuery } from '../common/store/precompiled-query.js';
import { createSqlDialect } from '../common/store/sql-dialect.js';
import { parseStoreUrl } from '../common/store/url.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';

interface Tables {
  items: { id: string; kind: string; size: number };
}

for (const kind of ['sqlite', 'mysql', 'postgres'] as TestDatabaseKind[]) {
  describe(`precompiled queries on ${kind}`, () => {
    let database: TestDatabase;
    let db: Kysely<Tables>;

    before(async () => {
      database = await createTestDatabase(kind);
      const location = parseStoreUrl(database.url);
      if (location.kind === 'mongodb') throw new Error('not a SQL database');
      db = new Kysely<Tables>({ dialect: createSqlDialect(location, { poolSize: 2 }) });
      await db.schema.createTable('items').addColumn('id', 'varchar(32)', (c) => c.primaryKey()).addColumn('kind', 'varchar(16)').addColumn('size', 'integer').execute();
    });

    after(async () => {
      await db?.destroy();
      await database?.drop();
    });

    test('runs with each call’s values in place of its placeholders, keeping the query’s own constants', async () => {
      const insert = new PrecompiledQuery<Tables['items'], never>(db, ['id', 'kind', 'size'], (row) => db.insertInto('items').values(row));
      for (let i = 0; i < 5; i += 1) await insert.execute({ id: `item-${i}`, kind: i % 2 === 0 ? 'even' : 'odd', size: i * 10 });

      // 'even' is a constant of the query: only `least` and `most` change from call to call.
      const evenBetween = new PrecompiledQuery<{ least: number; most: number }, { id: string }>(db, ['least', 'most'], (p) =>
        db.selectFrom('items').select('id').where('kind', '=', 'even').where('size', '>=', p.least).where('size', '<=', p.most).orderBy('id'),
      );
      assert.deepEqual((await evenBetween.execute({ least: 0, most: 40 })).rows.map((row) => row.id), ['item-0', 'item-2', 'item-4']);
      assert.deepEqual((await evenBetween.execute({ least: 10, most: 30 })).rows.map((row) => row.id), ['item-2']);

      const resize = new PrecompiledQuery<{ id: string; size: number }, never>(db, ['id', 'size'], (p) => db.updateTable('items').set({ size: p.size }).where('id', '=', p.id));
      assert.equal((await resize.execute({ id: 'item-1', size: 99 })).numAffectedRows, 1n);
      assert.equal((await resize.execute({ id: 'no-such-item', size: 99 })).numAffectedRows, 0n);
      assert.deepEqual(await db.selectFrom('items').select('size').where('id', '=', 'item-1').executeTakeFirst(), { size: 99 });
    });

    test('refuses a query that inlines a value into its SQL, or does not use a value it names', () => {
      assert.throws(
        () => new PrecompiledQuery<{ id: string }, never>(db, ['id'], (p) => db.selectFrom('items').selectAll().where(sql.ref('id'), '=', sql.lit(p.id))),
        /Parameter id was inlined into the SQL/,
      );
      assert.throws(
        () => new PrecompiledQuery<{ id: string; kind: string }, never>(db, ['id', 'kind'], (p) => db.selectFrom('items').selectAll().where('id', '=', p.id)),
        /Parameter kind is not used by the query/,
      );
    });
  });
}
