// A small JSON-over-HTTP caller for load generation: node:http with keep-alive agents, because thousands of
// concurrent long polls need one socket each and fetch adds per-request overhead the coordinator should not be
// charged for.
import http from 'node:http';

export interface Answer {
  status: number;
  body: unknown;
}

export class Caller {
  /** Long polls hold their socket for up to 30 s, so they get sockets of their own. */
  private readonly longPolls = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  /**
   * Short calls share a pool. Idle sockets close well before the server's 5 s keep-alive timeout: with 10,000
   * sockets this process's event loop lags by seconds, and a socket kept to 4 s (the server's hint less 1 s) was
   * often already closed by the server when a call went out on it.
   */
  private readonly calls = new http.Agent({ keepAlive: true, maxSockets: 512, timeout: 2000 });
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  /**
   * One call. A call that failed on a reused keep-alive socket before any answer (the server had closed it as
   * idle; ECONNRESET, EPIPE) never reached the server, so it goes again once on a new connection (not another
   * pooled socket, which may be as stale), whatever its method: the retry Node documents for `request.reusedSocket`.
   */
  async request(method: string, path: string, token: string, body?: unknown, longPoll = false): Promise<Answer> {
    const pooled = longPoll ? this.longPolls : this.calls;
    try {
      return await this.send(method, path, token, body, pooled);
    } catch (err) {
      if (!(err instanceof StaleSocketError)) throw err;
      return this.send(method, path, token, body, false);
    }
  }

  private send(method: string, path: string, token: string, body: unknown, agent: http.Agent | false): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString();
            let parsed: unknown = text;
            if (text && (res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(text);
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') ? new StaleSocketError(err) : err),
      );
      req.end(payload);
    });
  }
}

/** A keep-alive socket the server had closed as idle: the call was not received. */
class StaleSocketError extends Error {
  readonly code: string | undefined;

  constructor(cause: NodeJS.ErrnoException) {
    super(`stale keep-alive socket: ${cause.message}`, { cause });
    this.code = cause.code;
  }
}
