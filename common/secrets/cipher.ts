/**
 * AES-256-GCM sealing of one secret value under one key (node:crypto). A sealed value records the
 * key it was sealed under by a short id, so that keys can rotate: the first key of the keyring
 * seals, any key of it opens. The associated data binds a sealed value to its project and name:
 * a ciphertext copied onto another row (another project's, say) does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Bytes of an AES-256 key. */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A value as the store keeps it: never the value itself. */
export interface Sealed {
  /** The sealing key's id: the first 8 hex digits of its sha256. */
  key_id: string;
  /** base64 of the 12-byte IV, the 16-byte GCM tag and the ciphertext, in that order. */
  ciphertext: string;
}

/** Names a key without revealing it: the first 8 hex digits of its sha256. */
export const keyIdOf = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** What a sealed value is bound to: its project and name. */
export const associatedData = (tenantId: string, name: string): Buffer => Buffer.from(`pratai-secret\0${tenantId}\0${name}`, 'utf8');

export function seal(key: Buffer, keyId: string, plaintext: string, aad: Buffer): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { key_id: keyId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64') };
}

/** The plaintext; throws when the ciphertext or its binding was altered, or the key is not the one. */
export function open(key: Buffer, sealed: Sealed, aad: Buffer): string {
  const bytes = Buffer.from(sealed.ciphertext, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error('the ciphertext is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
