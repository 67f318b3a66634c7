/**
 * Key rotation: every stored secret sealed again under the keyring's first key
 * (`pratai-manage secrets-rotate`). Values do not change, and a value changed meanwhile (sealed
 * under the first key already by the API) is left as it is.
 */
import type { SecretRecord } from '../domain.js';
import type { Store } from '../store/store.js';
import type { Keyring } from './keyring.js';

export interface RotationReport {
  /** The key every secret is now sealed under. */
  keyId: string;
  /** Secrets sealed again under it. */
  rotated: number;
  /** Secrets that were under it already. */
  current: number;
  /** Secrets under a key the keyring lacks, by project and name: left as they are. */
  unreadable: { tenant_id: string; name: string; key_id: string }[];
}

export async function rotateSecrets(store: Store, keyring: Keyring): Promise<RotationReport> {
  const report: RotationReport = { keyId: keyring.primaryKeyId, rotated: 0, current: 0, unreadable: [] };
  for (const listed of await store.listSecrets('all-tenants')) {
    let secret: SecretRecord | undefined = listed;
    // A value changed since the listing is read again (a secret deleted meanwhile is done with).
    while (secret !== undefined) {
      if (secret.key_id === keyring.primaryKeyId) {
        report.current += 1;
        break;
      }
      if (!keyring.has(secret.key_id)) {
        report.unreadable.push({ tenant_id: secret.tenant_id, name: secret.name, key_id: secret.key_id });
        break;
      }
      const value = keyring.open(secret.tenant_id, secret.name, secret);
      if (await store.resealSecret(secret.tenant_id, secret.name, secret, keyring.seal(secret.tenant_id, secret.name, value))) {
        report.rotated += 1;
        break;
      }
      secret = await store.getSecret(secret.tenant_id, secret.name);
    }
  }
  return report;
}
