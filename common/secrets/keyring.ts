/**
 * The keys secrets are sealed under: `[secrets] keys`, a list of base64-encoded 32-byte keys. The
 * first seals; every one opens, so that an operator rotates by putting a new key first, running
 * `pratai-manage secrets-rotate`, and then dropping the old one. A key is never logged nor shown:
 * messages name it by its id (the first 8 hex digits of its sha256) or its place in the list.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Settings } from '../config.js';
import { PrataiError } from '../errors.js';
import type { Logger } from '../log.js';
import { associatedData, KEY_BYTES, keyIdOf, open, seal, type Sealed } from './cipher.js';

/** The key file the all-in-one platform makes under state_path when no key is configured. */
export const GENERATED_KEY_FILE = 'secrets.key';

/** How an operator makes a key, as every message that asks for one says. */
export const KEY_HINT = 'a comma-separated list of base64-encoded 32-byte keys, the first of which encrypts (make one with `openssl rand -base64 32`)';

/** A keyring that cannot be made: no key where one is needed, or a key file that does not read. */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

/** Decodes one base64 key; the message names it by its place, never by its text. */
export function decodeKey(encoded: string, place: string): Buffer {
  const text = encoded.trim();
  const key = Buffer.from(text, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || key.length !== KEY_BYTES) {
    throw new KeyringError(`${place} is not a base64-encoded ${KEY_BYTES}-byte key (it decodes to ${key.length} bytes)`);
  }
  return key;
}

export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;
  /** The id of the key that seals: the first. */
  readonly primaryKeyId: string;

  constructor(keys: readonly Buffer[]) {
    const first = keys[0];
    if (first === undefined) throw new KeyringError('a keyring needs at least one key');
    this.keys = new Map(keys.map((key) => [keyIdOf(key), key]));
    this.primaryKeyId = keyIdOf(first);
  }

  /** A keyring of base64 keys, named in messages as `what` key 1, 2, … */
  static fromBase64(encoded: readonly string[], what: string): Keyring {
    return new Keyring(encoded.map((key, index) => decodeKey(key, `${what} key ${index + 1}`)));
  }

  /** The ids of its keys, the sealing one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Seals a value of project `tenantId`'s secret `name` under the first key. */
  seal(tenantId: string, name: string, value: string): Sealed {
    return seal(this.keys.get(this.primaryKeyId) as Buffer, this.primaryKeyId, value, associatedData(tenantId, name));
  }

  /**
   * Opens a sealed value of project `tenantId`'s secret `name`. Throws SecretKeyMissing when no
   * key of the ring has its key id, InternalError when it does not open (altered, or moved).
   */
  open(tenantId: string, name: string, sealed: Sealed): string {
    const key = this.keys.get(sealed.key_id);
    if (key === undefined) {
      throw new PrataiError('SecretKeyMissing', `Secret \`${name}\` is encrypted under key ${sealed.key_id}, which [secrets] keys does not hold (it holds ${this.keyIds.join(', ')})`);
    }
    try {
      return open(key, sealed, associatedData(tenantId, name));
    } catch (error) {
      throw new PrataiError('InternalError', `Secret \`${name}\` does not decrypt under key ${sealed.key_id}: its stored ciphertext was altered or moved`, { cause: error });
    }
  }
}

/**
 * The keyring of a process: `[secrets] keys` when set. Without it, the all-in-one platform
 * (`generate`) uses the key it keeps in `<state_path>/secrets.key`, making it (mode 0600) the
 * first time and saying so; `readGenerated` reads that file without making it (pratai-manage on
 * the platform's machine); anything else is a KeyringError naming the option.
 */
export function loadKeyring(settings: Settings, options: { process: string; generate?: boolean; readGenerated?: boolean; log?: Logger }): Keyring {
  if (settings.secrets.keys.length > 0) return Keyring.fromBase64(settings.secrets.keys, '[secrets] keys');
  const file = join(settings.DEFAULT.state_path, GENERATED_KEY_FILE);
  if ((options.generate || options.readGenerated) && existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) options.log?.warning(`${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
    const keyring = new Keyring([decodeKey(readFileSync(file, 'utf8'), file)]);
    options.log?.info(`[secrets] keys is not set: secrets are encrypted under the key in ${file} (key ${keyring.primaryKeyId})`);
    return keyring;
  }
  if (options.generate) {
    mkdirSync(settings.DEFAULT.state_path, { recursive: true });
    const key = randomBytes(32);
    // `wx`: a file another process made meanwhile is not overwritten (the write then fails, and the next start reads it).
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    options.log?.warning(
      `[secrets] keys is not set: secrets are encrypted under a key made now in ${file} (key ${keyIdOf(key)}). Keep that file, and back it up: without it no secret can be decrypted. To share the key with other processes, set [secrets] keys to its content.`,
    );
    return new Keyring([key]);
  }
  throw new KeyringError(`${options.process} needs [secrets] keys (environment PRATAI_SECRETS_KEYS), the keys secrets are encrypted under: ${KEY_HINT}; every pratai-api and pratai-runner must have the same keys`);
}
