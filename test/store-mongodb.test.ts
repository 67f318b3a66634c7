/**
 * MongoStore. No MongoDB server can be had on the machines this is developed and tested on
 * (shared/ENVIRONMENT.md: not in Debian, and every npm package that provides one downloads it at
 * run time): the store contract runs only when PRATAI_TEST_MONGODB_URL names a server
 * (`mongodb://HOST:27017`; a database of this file's own is made on it and dropped), and is
 * reported as skipped otherwise. What needs no server runs always.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mongoose from 'mongoose';
import { PrataiError } from '../common/errors.js';
import { aFunction, connect, storeContract } from './store-contract.js';
import { uniqueDatabaseName } from './helpers/databases.js';

const server = process.env.PRATAI_TEST_MONGODB_URL;

storeContract('MongoStore on MongoDB', {
  skip: server ? undefined : 'PRATAI_TEST_MONGODB_URL is not set, and no MongoDB server can be had on these machines (shared/ENVIRONMENT.md)',
  createDatabase: async () => {
    const url = new URL(server ?? 'mongodb://127.0.0.1:27017');
    url.pathname = `/${uniqueDatabaseName()}`;
    return {
      url: url.href,
      // Not exercised on MongoDB: the driver's own pool reconnects, and killing sessions needs admin rights.
      killConnections: async () => undefined,
      drop: async () => {
        const connection = await mongoose.createConnection(url.href).asPromise();
        await connection.dropDatabase();
        await connection.close();
      },
    };
  },
});

test('a MongoDB server that does not answer is ServiceUnavailable naming its host, never the password', async () => {
  // Port 1 on loopback: nothing listens there; the URL's own option keeps the wait short.
  const store = await connect('mongodb://pratai:s3cret-pw@127.0.0.1:1/pratai?serverSelectionTimeoutMS=300', { migrate: false });
  try {
    for (const call of [() => store.ping(), () => store.migrate(), () => store.listFunctions('all-tenants')]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof PrataiError, String(error));
        assert.equal(error.code, 'ServiceUnavailable');
        assert.match(error.message, /127\.0\.0\.1:1\/pratai/);
        assert.doesNotMatch(error.message, /s3cret-pw/);
        return true;
      });
    }
  } finally {
    await store.close();
  }
});

test('a function subscribing to a node is refused with CoordinationUnsupported before MongoDB is asked anything', async () => {
  // Nothing listens on port 1: had the store tried to store anything, the error would be ServiceUnavailable.
  const store = await connect('mongodb://127.0.0.1:1/pratai?serverSelectionTimeoutMS=300', { migrate: false });
  try {
    const fn = aFunction('tenant-mongo', { subscriptions: [{ path: '/app/config', children: false }] });
    await assert.rejects(store.createFunction(fn, { module: 'def main(payload=None):\n    return payload\n', requirements: '' }), (error: unknown) => {
      assert.ok(error instanceof PrataiError, String(error));
      assert.equal(error.code, 'CoordinationUnsupported');
      assert.match(error.message, /\/app\/config/);
      return true;
    });
  } finally {
    await store.close();
  }
});
