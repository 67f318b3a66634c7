/** Opens the store the [database] connection URL names, with its schema up to date. */
import { databaseUrl, type Settings } from './config.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './store.js';

export async function openStore(settings: Settings): Promise<Store> {
  const store = SqlStore.open(databaseUrl(settings));
  try {
    await store.migrate();
    return store;
  } catch (error) {
    await store.close();
    throw error;
  }
}
