/**
 * Redaction: what a request gives back (its logs, streamed or stored, its response, its error)
 * with every value of the secrets it was given replaced by `***`. Applied by the runner, outside
 * the container: the function shares its process with the runtime, so nothing inside can be
 * trusted to do it. A secret split across two log records, or encoded (base64, hex), is not
 * recognised: redaction stops a slip, not a function set on leaking what it was given.
 */
import type { LogRecord, RequestError } from '../common/domain.js';
import type { Execution } from './container-runtime.js';

export const REDACTED = '***';

export class Redactor {
  /** Longest first, so that a secret holding another is replaced whole. */
  private readonly values: readonly string[];

  constructor(values: Iterable<string>) {
    this.values = [...new Set(values)].filter((value) => value !== '').sort((a, b) => b.length - a.length);
  }

  /** Whether there is anything to redact: without secrets every method gives back what it got. */
  get active(): boolean {
    return this.values.length > 0;
  }

  text(text: string): string {
    let redacted = text;
    for (const value of this.values) if (redacted.includes(value)) redacted = redacted.split(value).join(REDACTED);
    return redacted;
  }

  record(record: LogRecord): LogRecord {
    return this.active ? { ...record, message: this.text(record.message) } : record;
  }

  error(error: RequestError | null): RequestError | null {
    if (!this.active || error === null) return error;
    return { type: this.text(error.type), message: this.text(error.message), traceback: this.text(error.traceback) };
  }

  /** Any JSON value: its strings (keys too) redacted, and a number that spells a secret. */
  value(value: unknown): unknown {
    if (!this.active) return value;
    if (typeof value === 'string') return this.text(value);
    if (typeof value === 'number') return this.values.includes(String(value)) ? REDACTED : value;
    if (Array.isArray(value)) return value.map((item) => this.value(item));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [this.text(key), this.value(item)]));
    }
    return value;
  }

  execution(execution: Execution): Execution {
    if (!this.active) return execution;
    return {
      ...execution,
      response: this.value(execution.response),
      error: this.error(execution.error),
      logs: execution.logs.map((record) => this.record(record)),
    };
  }
}

/** A redactor with nothing to redact. */
export const NO_REDACTION = new Redactor([]);
