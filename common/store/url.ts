/**
 * The `[database] connection` URL, in the forms OpenStack operators already write for every other
 * service: `sqlite:///ABSOLUTE/PATH`, `mysql://USER:PASS@HOST:PORT/DB` (also `mysql+pymysql://`,
 * `mariadb://`), `postgresql://…` (also `postgresql+psycopg2://`, `postgres://`) and
 * `mongodb://…` (also `mongodb+srv://`). The SQLAlchemy driver suffix (`+pymysql`) is accepted and
 * ignored: the driver here is always the Node one (mysql2, pg).
 */
import { PrataiError } from '../errors.js';

/** Where a server database is; `where` names it for messages (host, port, database: never the password). */
export interface ServerLocation {
  host: string;
  port: number;
  /** A Unix socket to connect through instead of host:port (`?unix_socket=` for MySQL, `?host=/dir` for PostgreSQL). */
  socketPath: string | undefined;
  user: string;
  password: string;
  database: string;
  where: string;
}

export type StoreLocation =
  | { kind: 'sqlite'; path: string; where: string }
  | ({ kind: 'mysql' | 'postgres' } & ServerLocation)
  | { kind: 'mongodb'; url: string; where: string };

const DEFAULT_PORTS = { mysql: 3306, postgres: 5432 } as const;

const EXPECTED =
  'Expected [database] connection to be sqlite:///ABSOLUTE/PATH, mysql://USER:PASSWORD@HOST:PORT/DATABASE, postgresql://USER:PASSWORD@HOST:PORT/DATABASE or mongodb://HOST:PORT/DATABASE';

function invalid(url: string, why: string): PrataiError {
  return new PrataiError('InvalidParameter', `${EXPECTED}; got \`${redactUrl(url)}\` (${why})`);
}

/** Reads a connection URL. Throws InvalidParameter naming the forms accepted (the password hidden). */
export function parseStoreUrl(url: string): StoreLocation {
  const scheme = /^([a-z][a-z0-9]*)(?:\+[a-z0-9]+)?:\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'sqlite') {
    const path = url.slice(url.indexOf('://') + 3);
    if (!path.startsWith('/')) throw invalid(url, 'a SQLite path must be absolute: three slashes, then the path');
    return { kind: 'sqlite', path, where: path };
  }
  if (scheme === 'mongodb') {
    // Hosts, then the database: what follows the credentials, up to the options. (A MongoDB URL
    // may list several hosts, which URL cannot parse; the driver reads the URL itself.)
    const where = /^[^:]+:\/\/(?:[^@/]*@)?([^?]*)/.exec(url)?.[1] ?? '';
    if (where === '') throw invalid(url, 'no host');
    return { kind: 'mongodb', url, where };
  }
  const kind = scheme === 'mysql' || scheme === 'mariadb' ? 'mysql' : scheme === 'postgresql' || scheme === 'postgres' ? 'postgres' : undefined;
  if (kind === undefined) throw invalid(url, scheme === undefined ? 'no scheme' : `unknown scheme ${scheme}`);
  let parsed: URL;
  try {
    // Any scheme parses alike under a neutral one; an empty host (a Unix socket given in the
    // query, `postgresql://user@/db?host=/run/postgresql`) is not a URL, so it reads as localhost.
    parsed = new URL(`db://${url.slice(url.indexOf('://') + 3).replace(/^([^/]*@)?\//, '$1localhost/')}`);
  } catch {
    throw invalid(url, 'not a URL');
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) throw invalid(url, 'the database name is missing after the host');
  const socketPath = (kind === 'mysql' ? parsed.searchParams.get('unix_socket') : parsed.searchParams.get('host')) ?? undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? DEFAULT_PORTS[kind] : Number(parsed.port);
  return {
    kind,
    host,
    port,
    socketPath,
    user: decodeURIComponent(parsed.username) || (kind === 'mysql' ? 'root' : 'postgres'),
    password: decodeURIComponent(parsed.password),
    database,
    where: `${socketPath ?? `${parsed.hostname}:${port}`}/${database}`,
  };
}

/** The URL with its password replaced by `***`, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
