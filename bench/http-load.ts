/**
 * A small HTTP load generator for loopback: a fixed number of keep-alive connections, each
 * sending one request after another (a closed loop) until a deadline.
 */
import { Agent, request } from 'node:http';
import { percentile, perSecond } from './stats.js';

export interface Posted {
  status: number;
  body: string;
}

/** Keep-alive calls (POSTs of JSON, mostly) to one origin over at most `connections` sockets. */
export class Poster {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(origin: string, connections: number) {
    this.url = new URL(origin);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  post(path: string, body: string): Promise<Posted> {
    return this.send('POST', path, body);
  }

  /** Any method; a GET is sent without a body. */
  send(method: string, path: string, body = ''): Promise<Posted> {
    return new Promise((resolve, reject) => {
      const headers = method === 'GET' ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = request(
        { agent: this.agent, hostname: this.url.hostname, port: this.url.port, path, method, headers },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoopResult {
  /** Requests answered with the expected status. */
  count: number;
  /** Requests answered otherwise, or failed. */
  errors: number;
  elapsedMs: number;
  /** Milliseconds from sending each request to its answer. */
  latenciesMs: number[];
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * `connections` loops, each sending `path` and calling `then` with each answer (which may wait, for
 * the outcome, say) before sending the next, until `durationMs` has passed.
 */
export async function closedLoop(options: {
  poster: Poster;
  path: string;
  body: string;
  connections: number;
  durationMs: number;
  expectStatus: number;
  then?: (answer: Posted) => Promise<void>;
}): Promise<LoopResult> {
  const { poster, path, body, connections, durationMs, expectStatus, then } = options;
  const latenciesMs: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        const answer = await poster.post(path, body);
        if (answer.status !== expectStatus) {
          errors += 1;
          continue;
        }
        latenciesMs.push(performance.now() - sent);
        await then?.(answer);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsedMs = performance.now() - started;
  return {
    count: latenciesMs.length,
    errors,
    elapsedMs,
    latenciesMs,
    perSecond: perSecond(latenciesMs.length, elapsedMs),
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
  };
}
