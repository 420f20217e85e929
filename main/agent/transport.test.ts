import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { resendable, transportFetch, TransportError } from './transport';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real HTTP node answering every request with `status` and its own name; counts what it got. */
async function node(name: string, status = 200): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ node: name }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** A port nothing listens on (one that was just closed). */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('transportFetch over several nodes', () => {
  it('sends a refused request, or one answered 503, to the next node, with its body, and stays on the node that answered', async () => {
    const dead = await deadUrl();
    const dying = await node('dying', 503);
    const live = await node('live');
    const fetchOnList = transportFetch([dead, dying.url, live.url]);
    const client = new ApiClient({ baseUrl: dead, fetch: fetchOnList });
    expect(await client.json('POST', '/api/v1/x', { n: 1 })).toEqual({ node: 'live' });
    expect(live.hits).toEqual(['POST /api/v1/x {"n":1}']);
    expect(dying.hits).toHaveLength(1);
    // The next request goes straight to the node that answered.
    expect(await client.json('GET', '/api/v1/y')).toEqual({ node: 'live' });
    expect(dying.hits).toHaveLength(1);
    expect(live.hits).toHaveLength(2);
  });

  it('sends a streamed body to the next node only when it can be made again, each try whole', async () => {
    const dying = await node('dying', 503);
    const live = await node('live');
    const fetchOnList = transportFetch([dying.url, live.url]);
    const streamed = () => new Blob(['part 1,', 'part 2']).stream();
    const init = { method: 'POST', headers: { 'idempotency-key': 'k-1' }, duplex: 'half' } as RequestInit;
    const once = await fetchOnList(`${dying.url}/api/v1/jobs`, { ...init, body: streamed() });
    expect(once.status).toBe(503);
    expect(live.hits).toEqual([]);
    const again = await fetchOnList(`${dying.url}/api/v1/jobs`, resendable(init, streamed));
    expect(await again.json()).toEqual({ node: 'live' });
    expect(dying.hits).toEqual(['POST /api/v1/jobs part 1,part 2', 'POST /api/v1/jobs part 1,part 2']);
    expect(live.hits).toEqual(['POST /api/v1/jobs part 1,part 2']);
    // A stream that cannot be made again failed at the one node it was tried at: the error names that node only.
    const dead = await deadUrl();
    await expect(transportFetch([dead, live.url])(`${dead}/api/v1/jobs`, { ...init, body: streamed() })).rejects.toThrow(new RegExp(`^fetch failed at ${dead}$`));
  });

  it('says each node failed when none answers, and refuses a list with a bad URL or plain HTTP across the network', async () => {
    const [a, b] = [await deadUrl(), await deadUrl()];
    const client = new ApiClient({ baseUrl: a, fetch: transportFetch(`${a},${b}`) });
    await expect(client.json('GET', '/api/v1/x')).rejects.toThrow(
      new RegExp(`^cannot reach ${a}: fetch failed at each of ${a}, ${b} \\(connect ECONNREFUSED`),
    );
    expect(() => transportFetch(`${a},nope`)).toThrow(new TransportError('"nope" is not a URL; give one like http://pool-host:8080 (several comma-separated)'));
    expect(() => transportFetch(`${a},http://192.168.1.20:8080`)).toThrow(/http:\/\/192\.168\.1\.20:8080 is plain HTTP to another machine/);
  });
});
