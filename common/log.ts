/**
 * The platform's own log, one line a record in oslo.log's shape:
 * `2026-11-24T02:33:29.123Z 1234 INFO pratai.api [req-...] message`.
 */
export type Level = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface Logger {
  /** Whether debug records are written: a caller may skip building one that would not be. */
  readonly debugging: boolean;
  debug(message: string, context?: string): void;
  info(message: string, context?: string): void;
  warning(message: string, context?: string): void;
  error(message: string, context?: string): void;
  child(name: string): Logger;
}

const RANK: Record<Level, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

export function createLogger(name: string, options: { debug?: boolean; write?: (line: string) => void } = {}): Logger {
  const threshold = options.debug ? RANK.DEBUG : RANK.INFO;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: Level, message: string, context?: string): void => {
    if (RANK[level] < threshold) return;
    write(`${new Date().toISOString()} ${process.pid} ${level} ${name} [${context ?? '-'}] ${message}\n`);
  };
  return {
    debugging: threshold <= RANK.DEBUG,
    debug: (m, c) => emit('DEBUG', m, c),
    info: (m, c) => emit('INFO', m, c),
    warning: (m, c) => emit('WARNING', m, c),
    error: (m, c) => emit('ERROR', m, c),
    child: (child) => createLogger(`${name}.${child}`, options),
  };
}

/** A logger that keeps nothing: for tests that do not read the log. */
export const silentLogger: Logger = {
  debugging: false,
  debug: () => undefined,
  info: () => undefined,
  warning: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
