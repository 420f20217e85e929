// Capacity (issue 11): 10,000 idle workers each hold a parked claim, so what one parked claim keeps alive on the
// coordinator bounds the pool's size. Measured as the coordinator's heap after a full GC with N claims parked,
// less the same with none: deterministic (no wall clock), with the clients in a process of their own so only the
// coordinator's side is counted.
import { spawn, type ChildProcess } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_PREFIX, LIMITS } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { expectApiError } from '../../test/api-error';
import { registerTestWorker, startTestCoordinator, type TestCoordinator } from '../../test/pool';
import { waitFor } from '../../test/wait';
import { seriesValue } from '../../test/metrics';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after full collections (a few: weak references and finalizers clear over more than one). */
function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

const CLAIMS = 1000;
/**
 * Bytes of coordinator heap one parked claim may keep: through Koa's chain it measured 13.0 KiB (its context lived
 * until the answer), answered before Koa 9.2 KiB (a plain Node server holding a request: 5.1 KiB).
 */
const LIMIT_PER_CLAIM = 11 * 1024;

/**
 * A process that sends each claim on a socket of its own as raw HTTP and keeps the sockets open (as 10,000 idle
 * workers do): it prints `sent` once all are written, and the status line of each answer as `answer <status>`.
 */
const CLIENT = `
const net = require('node:net');
const [port, kinds, count] = [Number(process.argv[1]), JSON.parse(process.argv[2]), Number(process.argv[3])];
const requests = Array.from({ length: count }, (_, i) => kinds[i % kinds.length]);
let written = 0;
for (const request of requests) {
  const socket = net.connect(port, '127.0.0.1', () => {
    socket.write(request, () => { if (++written === requests.length) console.log('sent'); });
  });
  socket.setEncoding('latin1');
  socket.on('data', (data) => { const m = /^HTTP\\/1\\.1 (\\d+)/.exec(data); if (m) console.log('answer ' + m[1]); });
  socket.on('error', () => {});
}
`;

function rawClaim(workerId: string, token: string, body: string): string {
  return (
    `POST ${API_PREFIX}/workers/${workerId}/claim HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** `count` requests, taking turns among `kinds`. */
function startClients(port: number, kinds: string[], count: number): { child: ChildProcess; sent: Promise<void>; answers: string[] } {
  const child = spawn(process.execPath, ['-e', CLIENT, String(port), JSON.stringify(kinds), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const answers: string[] = [];
  const sent = new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (data: string) => {
      buffered += data;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'sent') resolve();
        else if (line.startsWith('answer ')) answers.push(line.slice(7));
      }
    });
    child.once('exit', (code) => reject(new Error(`the client process exited (${code}) before sending`)));
  });
  return { child, sent, answers };
}

describe('parked claims', () => {
  let pool: TestCoordinator;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    pool = await startTestCoordinator({ sweepIntervalMs: 0 });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await pool.stop();
  });

  it(`each keeps under ${LIMIT_PER_CLAIM / 1024} KiB of coordinator heap (${CLAIMS} claims of 10 workers parked at once)`, async () => {
    const workers = await Promise.all(Array.from({ length: 10 }, (_, i) => registerTestWorker(pool.url, pool.joinToken, { name: `idle-${i}` })));
    const port = Number(new URL(pool.url).port);
    const body = JSON.stringify({ waitMs: LIMITS.claimWaitMsMax });
    const kinds = workers.map((worker) => rawClaim(worker.id, worker.token, body));
    const park = async () => {
      const clients = startClients(port, kinds, CLAIMS);
      children.push(clients.child);
      await clients.sent;
      await waitFor(() => pool.coordinator.scheduler.waitingClaims === CLAIMS, { message: `${CLAIMS} claims to park`, timeoutMs: 60_000 });
      return clients;
    };
    const unpark = async (clients: { child: ChildProcess }) => {
      clients.child.kill('SIGKILL');
      await waitFor(() => pool.coordinator.scheduler.waitingClaims === 0, { message: 'the claims to end', timeoutMs: 60_000 });
    };

    // A first round warms what is made once (compiled code, caches, the server's connection list).
    await unpark(await park());
    const before = heapAfterGc();
    const parked = await park();
    const perClaim = (heapAfterGc() - before) / CLAIMS;
    console.log(`coordinator heap per parked claim: ${(perClaim / 1024).toFixed(2)} KiB`);
    expect(perClaim).toBeLessThan(LIMIT_PER_CLAIM);

    // And each parked claim is still answered: a job goes to one of them, over the same socket.
    const submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await submitter.submitJob({ commands: ['true'] });
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === CLAIMS - 1, { message: 'one claim to be answered' });
    await unpark(parked);
  }, 120_000);

  it("answers a bad claim as Koa's chain answers the same fault on another worker route, and refuses a revoked token at once", async () => {
    const worker = await registerTestWorker(pool.url, pool.joinToken, { name: 'w' });
    const other = await registerTestWorker(pool.url, pool.joinToken, { name: 'other' });
    const send = async (route: 'claim' | 'heartbeat', headers: Record<string, string>, body = '{}') => {
      const response = await fetch(`${pool.url}${API_PREFIX}/workers/${worker.id}/${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const { date: _date, ...rest } = Object.fromEntries(response.headers);
      return { status: response.status, headers: rest, body: await response.text() };
    };
    const faults: [string, Record<string, string>, string?][] = [
      ['no token', {}],
      ['a forged token', { authorization: 'Bearer cmdx_worker_forged' }],
      ['not a bearer token', { authorization: 'Basic abc' }],
      ["another worker's token", { authorization: `Bearer ${other.token}` }],
      ['an admin token', { authorization: `Bearer ${pool.adminToken}` }],
      ['text, not JSON', { authorization: `Bearer ${worker.token}`, 'content-type': 'text/plain' }, 'hi'],
      ['broken JSON', { authorization: `Bearer ${worker.token}` }, '{"waitMs":'],
      ['JSON that is no object', { authorization: `Bearer ${worker.token}` }, '"x"'],
    ];
    for (const [fault, headers, body] of faults) {
      const claim = await send('claim', headers, body);
      expect(claim.status, fault).toBeGreaterThanOrEqual(400);
      expect(claim, fault).toEqual(await send('heartbeat', headers, body));
    }
    const invalid = await send('claim', { authorization: `Bearer ${worker.token}` }, '{"waitMs":"soon"}');
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body)).toEqual({ error: { code: 'invalid_request', message: expect.stringMatching(/^invalid body: waitMs: /) } });
    const failed = await new ApiClient({ baseUrl: pool.url, token: pool.adminToken }).listAudit({ action: 'auth.failed' });
    expect(failed.entries.map((e) => e.target)).toContain(`${API_PREFIX}/workers/${worker.id}/claim`);

    // Served, audited and counted under the route's name, as in Koa's chain.
    const submitter = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    const job = await submitter.submitJob({ commands: ['true'] });
    expect((await worker.client.claim(worker.id, 0))?.job.id).toBe(job.id);
    expect((await submitter.listAudit({ action: 'lease.claim' })).entries.map((e) => [e.actor, e.target])).toEqual([['worker:w', job.id]]);
    const metrics = await (await fetch(`${pool.url}/metrics`)).text();
    expect(seriesValue(metrics, 'cmdx_http_request_duration_seconds_count', { method: 'POST', route: `${API_PREFIX}/workers/:id/claim`, status: '200' })).toBe(1);

    // Removed by an admin: the very next claim is refused, and says why.
    const parked = other.client.claim(other.id, LIMITS.claimWaitMsMax);
    await waitFor(() => pool.coordinator.scheduler.waitingClaims === 1, { message: 'the claim to park' });
    await submitter.json('DELETE', `${API_PREFIX}/workers/${other.id}`);
    await parked.catch(() => null);
    await expectApiError(other.client.claim(other.id, 0), 401, 'token_revoked');
  });
});
