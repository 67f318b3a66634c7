/**
 * What the SQL drivers' errors mean to the platform. better-sqlite3, mysql2 and pg each report a
 * failure their own way (SQLite result codes, MySQL error names, PostgreSQL SQLSTATEs, Node socket
 * errors); the store needs two answers from them: is this a unique-key violation (a name taken),
 * and does it mean the database cannot be used right now (ServiceUnavailable, retryable).
 */
import { PrataiError } from '../errors.js';

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : '';
}

/** A row with the same unique key exists (SQLite, MySQL/MariaDB, PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  return /^(SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)|ER_DUP_ENTRY|23505)$/.test(codeOf(error));
}

/** Node socket and file-system errors: the server or the file cannot be reached. */
const NODE_CODES = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|EACCES|EPERM|ENOENT|ENOTDIR|EEXIST|EROFS|ENOSPC)$/;
/** SQLite: locked past busy_timeout, cannot open or write the file, disk full, not a database. */
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|READONLY|IOERR|FULL|CORRUPT|NOTADB|PROTOCOL|PERM|AUTH)/;
/** MySQL/MariaDB: connection lost or refused, bad credentials, no such database, too many connections, shutting down, read-only. */
const MYSQL_CODES =
  /^(PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|ER_ACCESS_DENIED_ERROR|ER_DBACCESS_DENIED_ERROR|ER_BAD_DB_ERROR|ER_CON_COUNT_ERROR|ER_TOO_MANY_USER_CONNECTIONS|ER_SERVER_SHUTDOWN|ER_CONNECTION_KILLED|ER_OPTION_PREVENTS_STATEMENT|ER_LOCK_WAIT_TIMEOUT|ER_HOST_IS_BLOCKED|ER_HOST_NOT_PRIVILEGED)$/;
/**
 * PostgreSQL SQLSTATEs: class 08 connection exception, 28 invalid authorization, 3D000 no such
 * database, 53 insufficient resources, 57P01–57P03 shutting down or not accepting connections,
 * 25006 read-only transaction (a standby).
 */
const POSTGRES_CODES = /^(08...|28...|3D000|53...|57P0[1-3]|25006)$/;
/**
 * Reported by message only: pg's connection lost or pool timeout; mysql2's statement on a
 * connection that the server closed while it was checked out (in a transaction, say).
 */
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Can't add new command when connection is in closed state/;

export function isUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  if (NODE_CODES.test(code) || SQLITE_CODES.test(code) || MYSQL_CODES.test(code) || POSTGRES_CODES.test(code)) return true;
  return error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message);
}

/**
 * Turns a driver error that means the database cannot be used into ServiceUnavailable naming the
 * database (`host:port/name` or the SQLite path), never its password; other errors pass unchanged.
 */
export function translateDatabaseError(error: unknown, where: string, password: string): unknown {
  if (error instanceof PrataiError || !isUnavailable(error)) return error;
  let reason = error instanceof Error ? error.message : String(error);
  // Drivers do not put passwords in messages today; this keeps it so if one ever does.
  if (password !== '') reason = reason.replaceAll(password, '***');
  return new PrataiError('ServiceUnavailable', `The database ${where} cannot be used: ${reason}`, { cause: error });
}
