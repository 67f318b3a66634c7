/**
 * Long answers that the API writes as things happen: Server-Sent Events (`text/event-stream`), or
 * plain chunked text for clients that asked for no events. Every open stream is known to the API,
 * which ends them when it stops (they would otherwise hold its shutdown open).
 */
import type { Request, Response } from 'express';

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;

export interface EventStream {
  /** Aborted once the stream ended: the client left, the API stops, or end() was called. */
  readonly closed: AbortSignal;
  /** One event (SSE) with its JSON data; `id` lets a client say where it was. */
  event(name: string, data: unknown, id?: string): void;
  /** Plain text (the chunked form's content). */
  text(chunk: string): void;
  end(): void;
}

export class OpenStreams {
  private readonly open = new Set<EventStream>();

  /** Starts a `text/event-stream` answer, or chunked `text/plain` when `format` says so. */
  start(req: Request, res: Response, format: 'events' | 'text'): EventStream {
    res.status(200);
    res.setHeader('Content-Type', format === 'events' ? 'text/event-stream; charset=utf-8' : 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    // nginx and haproxy buffer answers by default; these are meant to arrive as written.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const closing = new AbortController();
    const keepAlive = format === 'events' ? setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS) : undefined;
    const stream: EventStream = {
      closed: closing.signal,
      event: (name, data, id) => {
        if (closing.signal.aborted) return;
        res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      },
      text: (chunk) => {
        if (!closing.signal.aborted && chunk !== '') res.write(chunk);
      },
      end: () => {
        if (closing.signal.aborted) return;
        closing.abort();
        res.end();
      },
    };
    this.open.add(stream);
    closing.signal.addEventListener('abort', () => {
      clearInterval(keepAlive);
      this.open.delete(stream);
    });
    res.once('close', () => {
      if (!closing.signal.aborted) closing.abort();
    });
    return stream;
  }

  /** Ends every open stream (the API is stopping). */
  endAll(): void {
    for (const stream of [...this.open]) stream.end();
  }
}

/** Whether the client asked for events rather than text. */
export const wantsEvents = (req: Request): boolean => /\btext\/event-stream\b/.test(req.get('accept') ?? '');
