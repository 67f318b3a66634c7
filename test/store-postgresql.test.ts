/** The store contract on PostgreSQL (pg), in a database of this file's own on the local server. */
import { createTestDatabase } from './helpers/databases.js';
import { coordinationContract } from './coordination-contract.js';
import { nodeTriggersContract } from './node-triggers-contract.js';
import { storeContract } from './store-contract.js';

storeContract('SqlStore on PostgreSQL', {
  createDatabase: () => createTestDatabase('postgres'),
  // Port 1 on loopback: nothing listens there. The OpenStack spelling of the scheme is accepted.
  unreachable: { url: 'postgresql+psycopg2://pratai:s3cret-pw@127.0.0.1:1/pratai', where: '127.0.0.1:1/pratai', password: 's3cret-pw' },
});

coordinationContract('SqlCoordinationStore on PostgreSQL', { createDatabase: () => createTestDatabase('postgres') });
nodeTriggersContract('SqlCoordinationStore on PostgreSQL', { createDatabase: () => createTestDatabase('postgres') });
