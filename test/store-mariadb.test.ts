/** The store contract on MariaDB (mysql2), in a database of this file's own on the local server. */
import { createTestDatabase } from './helpers/databases.js';
import { coordinationContract } from './coordination-contract.js';
import { nodeTriggersContract } from './node-triggers-contract.js';
import { storeContract } from './store-contract.js';

storeContract('SqlStore on MariaDB', {
  createDatabase: () => createTestDatabase('mysql'),
  // Port 1 on loopback: nothing listens there. The OpenStack spelling of the scheme is accepted.
  unreachable: { url: 'mysql+pymysql://pratai:s3cret-pw@127.0.0.1:1/pratai', where: '127.0.0.1:1/pratai', password: 's3cret-pw' },
});

coordinationContract('SqlCoordinationStore on MariaDB', { createDatabase: () => createTestDatabase('mysql') });
nodeTriggersContract('SqlCoordinationStore on MariaDB', { createDatabase: () => createTestDatabase('mysql') });
