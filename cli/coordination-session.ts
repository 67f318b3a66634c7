/**
 * A coordination session the CLI holds open while a command runs (`node-watch`, `node-create
 * --ephemeral`): its events stream keeps it alive on the server and brings its watches' events;
 * closing it deletes its ephemeral nodes. A session the CLI left without closing (killed) expires
 * after its timeout, which deletes them too.
 */
import type { PrataiApi, WatchEventView } from './api.js';
import { CliError } from './errors.js';

export class HeldSession {
  private readonly stopping = new AbortController();
  private stream: Promise<void> | undefined;

  private constructor(
    private readonly api: PrataiApi,
    readonly id: string,
  ) {}

  static async open(api: PrataiApi): Promise<HeldSession> {
    return new HeldSession(api, await api.openCoordinationSession());
  }

  /**
   * Follows the events stream, handing each watch event to `onEvent`. Settles when close() is
   * called; rejects when the stream ends otherwise (the session expired, the API stopped).
   */
  follow(onEvent: (event: WatchEventView) => void): Promise<void> {
    let buffer = '';
    let expired = false;
    const onText = (text: string): void => {
      buffer += text.replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const { name, data } = parseEvent(block);
        if (name === 'watch' && data !== undefined) onEvent(JSON.parse(data) as WatchEventView);
        if (name === 'expired') expired = true;
      }
    };
    this.stream ??= this.api.followSessionEvents(this.id, onText, this.stopping.signal).then(
      () => {
        if (this.stopping.signal.aborted) return;
        throw new CliError(expired ? `Session ${this.id} expired: its watches and ephemeral nodes are gone` : `The events stream of session ${this.id} ended: the API went away`);
      },
      (error: unknown) => {
        if (this.stopping.signal.aborted) return;
        throw error;
      },
    );
    return this.stream;
  }

  /** Stops following and closes the session, which deletes its ephemeral nodes. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.stream;
    await this.api.closeCoordinationSession(this.id).catch(() => undefined);
  }
}

/** One Server-Sent Event's name and data (its `data:` lines joined). */
function parseEvent(block: string): { name: string; data: string | undefined } {
  let name = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  return { name, data: data.length === 0 ? undefined : data.join('\n') };
}

/** Settles at the first SIGINT or SIGTERM (Ctrl-C), which then no longer ends the process. */
export function interrupted(): { done: Promise<void>; dispose: () => void } {
  let resolve = (): void => undefined;
  const done = new Promise<void>((settle) => (resolve = settle));
  const onSignal = (): void => resolve();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    done,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
