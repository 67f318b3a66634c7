/**
 * What the runner gives a function: the values of the secrets it names, opened with the keyring.
 * The only place a secret's value is in clear outside the API's request that set it.
 */
import type { Store } from '../store/store.js';
import { unknownSecret } from '../store/rows.js';
import type { Keyring } from './keyring.js';

/**
 * The values of project `tenantId`'s secrets `names`, by name. Throws UnknownSecret when one is
 * not there, SecretKeyMissing when one is sealed under a key the keyring lacks.
 */
export async function resolveSecrets(store: Store, keyring: Keyring, tenantId: string, names: readonly string[]): Promise<Record<string, string>> {
  const found = await store.listSecrets({ tenantId }, names);
  const missing = unknownSecret(names, found.map((secret) => secret.name));
  if (missing) throw missing;
  return Object.fromEntries(found.map((secret) => [secret.name, keyring.open(tenantId, secret.name, secret)]));
}
