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
  /** Short calls share a pool; idle sockets close before the server's 5 s keep-alive timeout would. */
  private readonly calls = new http.Agent({ keepAlive: true, maxSockets: 512, timeout: 4000 });
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  request(method: string, path: string, token: string, body?: unknown, longPoll = false): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: longPoll ? this.longPolls : this.calls,
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
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** For calls the protocol makes idempotent: a keep-alive socket closed under us is retried once. */
  async idempotent(method: string, path: string, token: string, body?: unknown): Promise<Answer> {
    try {
      return await this.request(method, path, token, body);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
      return this.request(method, path, token, body);
    }
  }
}
