/** The [database] connection URL in the forms OpenStack operators write, and what is refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PrataiError } from '../common/errors.js';
import { parseStoreUrl, redactUrl } from '../common/store/url.js';

test('MySQL and MariaDB URLs are read with or without the SQLAlchemy driver suffix', () => {
  for (const url of ['mysql://pratai:p%40ss@db.example.org:3307/pratai?charset=utf8', 'mysql+pymysql://pratai:p%40ss@db.example.org:3307/pratai', 'mariadb://pratai:p%40ss@db.example.org:3307/pratai']) {
    assert.deepEqual(parseStoreUrl(url), {
      kind: 'mysql',
      host: 'db.example.org',
      port: 3307,
      socketPath: undefined,
      user: 'pratai',
      password: 'p@ss',
      database: 'pratai',
      where: 'db.example.org:3307/pratai',
    });
  }
});

test('PostgreSQL URLs are read with default port, user and a socket folder', () => {
  assert.deepEqual(parseStoreUrl('postgresql+psycopg2://db.example.org/pratai'), {
    kind: 'postgres',
    host: 'db.example.org',
    port: 5432,
    socketPath: undefined,
    user: 'postgres',
    password: '',
    database: 'pratai',
    where: 'db.example.org:5432/pratai',
  });
  const socket = parseStoreUrl('postgres://pratai@/pratai?host=/var/run/postgresql');
  assert.equal(socket.kind === 'postgres' && socket.socketPath, '/var/run/postgresql');
  assert.equal(socket.where, '/var/run/postgresql/pratai');
  const mysqlSocket = parseStoreUrl('mysql://pratai@localhost/pratai?unix_socket=/run/mysqld/mysqld.sock');
  assert.equal(mysqlSocket.kind === 'mysql' && mysqlSocket.socketPath, '/run/mysqld/mysqld.sock');
});

test('SQLite and MongoDB URLs are read', () => {
  assert.deepEqual(parseStoreUrl('sqlite:///var/lib/pratai/pratai.db'), { kind: 'sqlite', path: '/var/lib/pratai/pratai.db', where: '/var/lib/pratai/pratai.db' });
  assert.deepEqual(parseStoreUrl('mongodb://pratai:secret@mongo1:27017,mongo2:27017/pratai?replicaSet=rs0'), {
    kind: 'mongodb',
    url: 'mongodb://pratai:secret@mongo1:27017,mongo2:27017/pratai?replicaSet=rs0',
    where: 'mongo1:27017,mongo2:27017/pratai',
  });
});

test('an unknown scheme, a relative SQLite path or a missing database name is refused naming the forms, never the password', () => {
  for (const url of ['oracle://scott:tiger-pw@db/orcl', 'sqlite://relative.db', 'mysql://root:tiger-pw@db:3306/', 'nonsense']) {
    assert.throws(
      () => parseStoreUrl(url),
      (error: unknown) => {
        assert.ok(error instanceof PrataiError);
        assert.equal(error.code, 'InvalidParameter');
        assert.match(error.message, /sqlite:\/\/\/ABSOLUTE\/PATH, mysql:\/\//);
        assert.doesNotMatch(error.message, /tiger-pw/);
        return true;
      },
    );
  }
});

test('a URL is shown with its password hidden', () => {
  assert.equal(redactUrl('mysql+pymysql://pratai:s3cret@db:3306/pratai'), 'mysql+pymysql://pratai:***@db:3306/pratai');
  assert.equal(redactUrl('postgresql://pratai@db/pratai'), 'postgresql://pratai@db/pratai');
  assert.equal(redactUrl('sqlite:///var/lib/pratai/pratai.db'), 'sqlite:///var/lib/pratai/pratai.db');
});
