/** The store contract on SQLite, the embedded default: a database file of its own in a temporary folder. */
import { createTestDatabase } from './helpers/databases.js';
import { coordinationContract } from './coordination-contract.js';
import { nodeTriggersContract } from './node-triggers-contract.js';
import { storeContract } from './store-contract.js';

storeContract('SqlStore on SQLite', {
  createDatabase: () => createTestDatabase('sqlite'),
  // A file under a path that is a file: it can never be opened.
  unreachable: { url: 'sqlite:///dev/null/pratai.db', where: '/dev/null/pratai.db', password: 'never-shown' },
});

coordinationContract('SqlCoordinationStore on SQLite', { createDatabase: () => createTestDatabase('sqlite') });
nodeTriggersContract('SqlCoordinationStore on SQLite', { createDatabase: () => createTestDatabase('sqlite') });
