// Idempotent submits across nodes (the `postgres` vitest project): two coordinators on one PostgreSQL. A submit
// sent to both at once with one Idempotency-Key makes one job; the real submit CLI given `--server proxyA,B`,
// whose answer from A is lost after A committed it, or whose streamed --zip/--dir upload A's proxy cuts mid-body,
// resends to B with the same key and ends with one job that runs once, its bundle whole.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { API_PREFIX, IDEMPOTENCY_KEY_HEADER } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { AgentFleet, waitForJob } from '../../main/agent/test-support';
import { makeTempDir, quietLogger, startTestCoordinator, testStore, type TestCoordinator } from '../pool';
import { createDatabase } from '../postgres';
import { makeZip } from '../zips';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_TOKEN = 'cmdx_admin_idempotent000000000000000000000';
const JOIN_TOKEN = 'cmdx_join_idempotent0000000000000000000000';

/** What the proxy does to each connection: lose the answer once the node has sent it, or cut the request body. */
type Fault = { loseAnswer: true } | { cutRequestAfterBytes: number };

/**
 * A real TCP proxy in front of a node that breaks every connection through it as `fault` says, and records the
 * request line of each it broke (so a test knows the submit itself, not some other call, went through it).
 */
async function faultyProxy(upstreamPort: number, fault: Fault) {
  const broken: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let head = '';
    let forwarded = 0;
    const breakBoth = () => {
      broken.push(head.split('\r\n')[0]!);
      client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (head.length < 200) head += chunk.toString('latin1', 0, 200);
      if ('cutRequestAfterBytes' in fault && forwarded + chunk.length >= fault.cutRequestAfterBytes) {
        upstream.write(chunk.subarray(0, fault.cutRequestAfterBytes - forwarded), breakBoth);
        return;
      }
      forwarded += chunk.length;
      upstream.write(chunk);
    });
    // The node answered: it has committed what it was asked. The answer never reaches the client.
    upstream.on('data', (chunk: Buffer) => ('loseAnswer' in fault ? breakBoth() : client.write(chunk)));
    for (const socket of [client, upstream]) {
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    broken,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The real submit CLI (bin/submit.js) as a person runs it; resolves with its exit code and output. */
function submitCli(args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  const child = spawn(process.execPath, [join(repo, 'bin', 'submit.js'), ...args], {
    cwd: repo,
    env: { PATH: process.env.PATH!, HOME: os.homedir(), CMDX_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let output = '';
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), (output += d.toString())));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  cleanup.push(async () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, output })));
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe.runIf(testStore === 'postgres')('idempotent submit across two coordinators on one PostgreSQL', () => {
  let a: TestCoordinator;
  let b: TestCoordinator;
  let admin: ApiClient;
  /** What node A logged as errors: a client going away mid-upload is not one. */
  let errorsOfA: string[];

  beforeEach(async () => {
    errorsOfA = [];
    const database = await createDatabase(inject('postgresUrl'));
    const dir = await makeTempDir('cmdx-idempotent-');
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const node = (name: string, logger = quietLogger) =>
      startTestCoordinator({ dataDir: join(dir, name), database, blobDir: join(dir, 'blobs'), adminToken: ADMIN_TOKEN, joinToken: JOIN_TOKEN, logger });
    a = await node('node-a', { ...quietLogger, error: (message) => errorsOfA.push(message) });
    cleanup.push(() => a.stop());
    b = await node('node-b');
    cleanup.push(() => b.stop());
    admin = new ApiClient({ baseUrl: b.url, token: ADMIN_TOKEN });
  });

  /** One worker of the pool, on node B (the one that stays whole). */
  const startWorker = async () => {
    const fleet = new AgentFleet();
    cleanup.push(() => fleet.stopAll());
    await fleet.start({ server: b.url, joinToken: JOIN_TOKEN, name: 'runner' });
  };

  it('one key sent to both nodes at once makes one job: every answer is that job', async () => {
    const post = (url: string) =>
      fetch(`${url}${API_PREFIX}/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', [IDEMPOTENCY_KEY_HEADER]: 'race-1' },
        body: JSON.stringify({ commands: ['echo raced'], name: 'raced' }),
      }).then(async (response) => ({ status: response.status, id: ((await response.json()) as { job: { id: string } }).job.id }));
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => post(i % 2 ? b.url : a.url)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(201));
    expect(new Set(answers.map((answer) => answer.id)).size).toBe(1);
    expect((await admin.listJobs({ limit: 20 })).jobs.map((job) => job.id)).toEqual([answers[0]!.id]);
  });

  it('the submit CLI whose answer from A is lost after A committed resends to B: one job, run once', { timeout: 60_000 }, async () => {
    const proxy = await faultyProxy(new URL(a.url).port as unknown as number, { loseAnswer: true });
    cleanup.push(() => proxy.close());
    await startWorker();
    const run = await submitCli(['--server', `${proxy.url},${b.url}`, '--name', 'answer-lost', 'echo ran once']);
    expect(run, run.output).toMatchObject({ code: 0, stdout: 'ran once\n' });
    expect(proxy.broken).toEqual([`POST ${API_PREFIX}/jobs HTTP/1.1`]);
    const { jobs } = await admin.listJobs({ limit: 20 });
    expect(jobs.map((job) => job.name)).toEqual(['answer-lost']);
    expect(await waitForJob(admin, jobs[0]!.id)).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect(await admin.getLog(jobs[0]!.id)).toBe('ran once\n');
  });

  it.each(['--zip', '--dir'])('a %s upload cut mid-body on the way to A is sent again, whole, to B: one job, run once, its bundle whole', { timeout: 60_000 }, async (flag) => {
    const data = randomBytes(2 * 1024 * 1024);
    const folder = await makeTempDir('cmdx-idempotent-upload-');
    cleanup.push(() => rm(folder, { recursive: true, force: true }));
    await mkdir(join(folder, 'dir'));
    await writeFile(join(folder, 'dir', 'data.bin'), data);
    await writeFile(join(folder, 'bundle.zip'), await makeZip([{ name: 'data.bin', data, compress: false }]));
    const proxy = await faultyProxy(new URL(a.url).port as unknown as number, { cutRequestAfterBytes: 256 * 1024 });
    cleanup.push(() => proxy.close());
    await startWorker();
    const source = flag === '--zip' ? join(folder, 'bundle.zip') : join(folder, 'dir');
    const run = await submitCli(['--server', `${proxy.url},${b.url}`, flag, source, '--name', 'cut-upload', 'sha256sum data.bin']);
    const sha = createHash('sha256').update(data).digest('hex');
    expect(run, run.output).toMatchObject({ code: 0, stdout: `${sha}  data.bin\n` });
    expect(proxy.broken).toEqual([`POST ${API_PREFIX}/jobs HTTP/1.1`]);
    const { jobs } = await admin.listJobs({ limit: 20 });
    expect(jobs.map((job) => job.name)).toEqual(['cut-upload']);
    expect(await waitForJob(admin, jobs[0]!.id)).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect(errorsOfA).toEqual([]);
  });
});
