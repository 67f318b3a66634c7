/**
 * Opens the store the [database] connection URL names: SqlStore for SQLite, MySQL/MariaDB and
 * PostgreSQL, MongoStore for MongoDB.
 */
import { databaseUrl, type Settings } from '../config.js';
import { SqlStore } from './sql-store.js';
import { parseStoreUrl } from './url.js';
import type { Store } from './store.js';

/** The store, its schema not yet checked: `pratai-manage db-sync` migrates it itself. */
export async function createStore(settings: Settings): Promise<Store> {
  const location = parseStoreUrl(databaseUrl(settings));
  const poolSize = settings.database.max_pool_size;
  if (location.kind === 'mongodb') {
    // Loaded only when named: mongoose and its driver take a while to load, and SQL users need neither.
    const { MongoStore } = await import('./mongo-store.js');
    return MongoStore.open(location, { poolSize });
  }
  return SqlStore.open(location, { poolSize });
}

/**
 * The store with its schema up to date: every process migrates at start, which is safe when
 * several start at once (Store.migrate locks).
 */
export async function openStore(settings: Settings): Promise<Store> {
  const store = await createStore(settings);
  try {
    await store.migrate();
    return store;
  } catch (error) {
    await store.close();
    throw error;
  }
}
