// Hostile jobs against a real coordinator and real agents (`bin/worker.js`), all run as an unprivileged user
// as on an office PC (the test process is root here: setpriv to nobody; run as anyone else, they run as that
// user). The owner's secrets, the agent's state and cache, other jobs and the coordinator's data are all
// readable by that user: only the sandbox stands between them and a job. A control agent without the sandbox
// proves each probe would see what it looks for.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildRun, REPO_ROOT } from '../../bench/lib/processes';
import { descendantsOf } from '../../main/agent/process-tree';
import { processesOfJob, waitForJob, waitForOutput } from '../../main/agent/test-support';
import type { JobSpec } from '../../protocol/api';
import { ApiClient } from '../../protocol/client';
import { waitFor } from '../wait';
import { makeZip } from '../zips';

const BWRAP = '/usr/bin/bwrap';
const runnable = process.platform === 'linux' && existsSync(BWRAP);
const NOBODY = 65534;
const setprivNobody = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/** Whether nobody can run this checkout's worker (a clone under root's 0700 home cannot be). */
function nobodyCanRunCheckout(): boolean {
  try {
    execFileSync(setprivNobody[0]!, [...setprivNobody.slice(1), process.execPath, '-e', 'require.resolve("tsx")'], { cwd: REPO_ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** As nobody when we are root and nobody can reach the checkout; as ourselves otherwise (named in the suite's title). */
const asNobody = runnable && process.getuid?.() === 0 && nobodyCanRunCheckout();
const asUser = asNobody ? setprivNobody : [];
const who = asNobody ? 'as the unprivileged user nobody' : `as uid ${process.getuid?.() ?? '?'} (nobody cannot run this checkout)`;
const AGENT_MARKER = 'AGENT_ENV_SECRET_c0ffee';

let root: string;
let ownerHome: string;
let dataDir: string;
let coordinator: ChildRun;
let url: string;
let admin: ApiClient;
const adminToken = `cmdx_admin_contain${Date.now()}`;
const joinToken = `cmdx_join_contain${Date.now()}`;
const agents = new Map<string, ChildRun>();

function startAs(name: string, args: string[], env: Record<string, string>): ChildRun {
  const [file, ...rest] = [...asUser, process.execPath, ...args];
  const child = spawn(file!, rest, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOME: ownerHome, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ChildRun(name, child);
}

function workDirOf(name: string): string {
  return path.join(root, `agent-${name}`);
}

/** A real agent as the unprivileged user, its owner's HOME holding the fake secrets; waits until it is idle. */
async function startAgent(name: string, flags: string[] = []): Promise<ChildRun> {
  const agent = startAs(`agent ${name}`, ['bin/worker.js', '--name', name, '--work-dir', workDirOf(name), '--kill-grace', '1', '--stop-grace', '0', ...flags], {
    CMDX_SERVER: url,
    CMDX_JOIN_TOKEN: joinToken,
    [AGENT_MARKER]: '1',
  });
  agents.set(name, agent);
  await waitFor(async () => (await admin.listWorkers()).some((w) => w.name === name && w.state === 'idle'), {
    timeoutMs: 30_000,
    message: `agent ${name} to join: ${agent.output.slice(-1000)}`,
  });
  return agent;
}

const on = (name: string): Pick<JobSpec, 'labels'> => ({ labels: [`host:${name}`] });

/** A TCP service on the host's 127.0.0.1 that counts who reached it. */
async function loopbackService(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, close: () => server.close() };
}

/** A job command that prints CONNECTED (exit 0) or `refused: CODE` (exit 3). */
const connectTo = (port: number): string =>
  `node -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', (e) => { console.log('refused: ' + e.code); process.exit(3) })"`;

describe.skipIf(!runnable)(
  runnable ? `hostile jobs on a sandboxed worker (bubblewrap), agent and coordinator ${who}` : 'hostile jobs — skipped: bubblewrap (/usr/bin/bwrap) is not installed',
  () => {
    beforeAll(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'cmdx-contain-'));
      ownerHome = path.join(root, 'home');
      dataDir = path.join(root, 'coordinator-data');
      await mkdir(path.join(ownerHome, '.ssh'), { recursive: true });
      await writeFile(path.join(ownerHome, '.ssh', 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY----- fake\n', { mode: 0o600 });
      if (asNobody) execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
      coordinator = startAs(
        'coordinator',
        ['coordinator/index.js', '--port', '0', '--data-dir', dataDir, '--lease-ttl', '2', '--heartbeat-interval', '1'],
        { CMDX_ADMIN_TOKEN: adminToken, CMDX_JOIN_TOKEN: joinToken },
      );
      url = (await coordinator.waitFor(/serving (https?:\/\/\S+)/, 60_000))[1]!;
      admin = new ApiClient({ baseUrl: url, token: adminToken });
      await startAgent('boxed', ['--slots', '2', '--process-limit', '256', '--memory-limit', '1024']);
    }, 90_000);

    afterAll(async () => {
      for (const agent of agents.values()) await agent.stop('SIGKILL');
      await coordinator?.stop('SIGKILL');
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('the worker reports its sandbox, network and limits to the pool', async () => {
      const worker = (await admin.listWorkers()).find((w) => w.name === 'boxed');
      expect(worker?.isolation).toEqual({
        sandbox: 'bubblewrap',
        network: false,
        limits: { memoryMiB: 1024, processes: 256, openFiles: 4096, fileSizeMiB: 8192, diskMiB: 10240 },
      });
    });

    it("cannot read the owner's keys, the agent's state and cache, another job, environs or the coordinator's data", async () => {
      const victim = await admin.submitJob({ ...on('boxed'), commands: ['echo "victim secret" > secret.txt; echo ready; sleep 60'] });
      await waitForOutput(admin, victim.id, 'ready');
      const victimFile = path.join(workDirOf('boxed'), 'jobs', `${victim.id}.1`, 'workspace', 'secret.txt');
      expect(existsSync(victimFile)).toBe(true);
      const agentPid = agents.get('boxed')!.pid;
      const targets = [
        path.join(ownerHome, '.ssh', 'id_ed25519'),
        path.join(workDirOf('boxed'), 'state', 'worker.json'),
        path.join(workDirOf('boxed'), 'cache'),
        victimFile,
        path.join(dataDir, 'coordinator.sqlite'),
        `/proc/${agentPid}/environ`,
        `/proc/${agentPid}/cmdline`,
      ];
      const probe = [
        'for f in $TARGETS; do if cat "$f" >/dev/null 2>&1 || ls "$f" >/dev/null 2>&1; then echo "READABLE $f"; else echo "hidden $f"; fi; done',
        `grep -l -e ${AGENT_MARKER} -e "victim secret" /proc/[0-9]*/environ 2>/dev/null | sed "s/^/READABLE /"; true`,
      ];
      const snoop = await admin.submitJob({ ...on('boxed'), commands: probe, env: { TARGETS: targets.join(' ') } });
      const done = await waitForJob(admin, snoop.id);
      const log = await admin.getLog(snoop.id);
      expect(done.state, log).toBe('succeeded');
      expect(log).not.toContain('READABLE');
      expect(log.match(/^hidden /gm)).toHaveLength(targets.length);
      await admin.cancelJob(victim.id);
      await waitForJob(admin, victim.id);

      // The same probe on an agent without the sandbox sees all of it: the probe is not blind.
      await startAgent('bare', ['--no-sandbox', '--trust', '*']);
      const bareTargets = [path.join(ownerHome, '.ssh', 'id_ed25519'), path.join(workDirOf('bare'), 'state', 'worker.json'), path.join(dataDir, 'coordinator.sqlite')];
      const control = await admin.submitJob({ ...on('bare'), commands: probe, env: { TARGETS: bareTargets.join(' ') } });
      await waitForJob(admin, control.id);
      expect((await admin.getLog(control.id)).match(/^READABLE /gm)?.length).toBeGreaterThanOrEqual(bareTargets.length);
      await agents.get('bare')!.stop('SIGKILL');
      agents.delete('bare');
    }, 60_000);

    it('cannot connect to a service listening on the host’s loopback', async () => {
      const service = await loopbackService();
      try {
        const job = await admin.submitJob({
          ...on('boxed'),
          commands: [
            connectTo(service.port),
          ],
        });
        const done = await waitForJob(admin, job.id);
        expect(await admin.getLog(job.id)).toMatch(/^refused: E[A-Z]+\n$/);
        expect(done).toMatchObject({ state: 'failed', exitCode: 3 });
        expect(service.connections()).toBe(0);
      } finally {
        service.close();
      }
    });

    it('a network job on a worker that allows network gets its own network: the host’s loopback stays refused, and slirp4netns ends with it', async () => {
      const agent = await startAgent('netted', ['--allow-network']);
      expect((await admin.listWorkers()).find((w) => w.name === 'netted')?.isolation?.network).toBe(true);
      const service = await loopbackService();
      try {
        const job = await admin.submitJob({
          ...on('netted'),
          network: true,
          commands: [
            'grep -q "^tap0" /proc/net/route && echo "own interface: tap0"',
            connectTo(service.port),
          ],
        });
        const done = await waitForJob(admin, job.id);
        expect(await admin.getLog(job.id)).toMatch(/^own interface: tap0\nrefused: E[A-Z]+\n$/);
        expect(done).toMatchObject({ state: 'failed', exitCode: 3 });
        expect(service.connections()).toBe(0);
        const comm = (pid: number) => {
          try {
            return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
          } catch {
            return 'gone';
          }
        };
        const slirps = (await descendantsOf(agent.pid)).filter((p) => comm(p.pid) === 'slirp4netns');
        expect(slirps).toEqual([]);
      } finally {
        service.close();
        await agent.stop('SIGKILL');
        agents.delete('netted');
      }
    }, 60_000);

    it('a fork bomb fails on the process limit while the agent keeps heartbeating', async () => {
      const job = await admin.submitJob({ ...on('boxed'), shell: 'bash', commands: [':(){ :|:& };:; sleep 60'], limits: { processes: 64 } });
      const done = await waitForJob(admin, job.id, undefined, 30_000);
      expect(done).toMatchObject({ state: 'failed', reason: 'limit_exceeded', error: 'the job was stopped: process limit 64 reached' });
      expect(await processesOfJob(job.id)).toEqual([]);
      const worker = (await admin.listWorkers()).find((w) => w.name === 'boxed')!;
      expect(worker.state).not.toBe('offline');
      expect(Date.now() - Date.parse(worker.lastSeenAt)).toBeLessThan(3000);
      const next = await admin.submitJob({ ...on('boxed'), commands: ['echo still here'] });
      expect(await waitForJob(admin, next.id)).toMatchObject({ state: 'succeeded' });
    }, 45_000);

    it('a 3 GiB allocation under a 512 MiB limit fails naming the limit', async () => {
      const job = await admin.submitJob({
        ...on('boxed'),
        commands: ['node -e "const b = Buffer.alloc(3 * 1024 ** 3, 1); console.log(\'allocated\', b.length)"'],
        limits: { memoryMiB: 512 },
      });
      const done = await waitForJob(admin, job.id, undefined, 30_000);
      expect(done).toMatchObject({ state: 'failed', reason: 'limit_exceeded', error: 'the job was stopped: memory limit 512 MiB reached' });
      expect(await admin.getLog(job.id)).not.toContain('allocated');
    }, 45_000);

    it('writing past the disk cap fails naming it, however many files it spreads over', async () => {
      const job = await admin.submitJob({
        ...on('boxed'),
        commands: ['i=0; while :; do head -c 8388608 /dev/zero > "f$i" || exit 9; i=$((i+1)); done'],
        limits: { diskMiB: 64 },
      });
      const done = await waitForJob(admin, job.id, undefined, 30_000);
      expect(done).toMatchObject({ state: 'failed', reason: 'limit_exceeded', error: 'the job was stopped: disk limit 64 MiB reached' });
    }, 45_000);

    it('a setsid daemon is gone when its job ends', async () => {
      const job = await admin.submitJob({
        ...on('boxed'),
        commands: ["setsid sh -c 'sleep 300' </dev/null >/dev/null 2>&1 & echo daemon started"],
      });
      expect(await waitForJob(admin, job.id)).toMatchObject({ state: 'succeeded' });
      expect(await admin.getLog(job.id)).toBe('daemon started\n');
      expect(await processesOfJob(job.id)).toEqual([]);
    });

    it('a poisoned cache file is detected and the bundle fetched again', async () => {
      const zip = await makeZip([{ name: 'run.sh', data: 'echo "the real script"\n', compress: false }]);
      const first = await admin.submitJobWithBundle({ ...on('boxed'), commands: ['sh run.sh'] }, new Blob([zip]));
      const done = await waitForJob(admin, first.id);
      expect(await admin.getLog(first.id)).toBe('the real script\n');
      const cached = path.join(workDirOf('boxed'), 'cache', `${done.bundle!.sha256}.zip`);
      const poisoned = await makeZip([{ name: 'run.sh', data: 'echo "the evil script"\n', compress: false }]);
      expect(poisoned.length).toBe(zip.length); // same size: a size check alone would take it
      await writeFile(cached, poisoned);
      const second = await admin.rerunJob(first.id);
      expect(await waitForJob(admin, second.id)).toMatchObject({ state: 'succeeded' });
      expect(await admin.getLog(second.id)).toBe('the real script\n');
      expect(agents.get('boxed')!.output).toContain(`the cached bundle ${done.bundle!.sha256} does not match its SHA-256 any more`);
    });

    it('kill -9 of the agent mid-job: nothing of the job is left after 2 s and it runs once more elsewhere, never twice at once', async () => {
      const doomed = await startAgent('doomed', ['--labels', 'crash']);
      const job = await admin.submitJob({ labels: ['crash'], commands: ['echo "attempt $CMDX_ATTEMPT"; sleep 3; echo "done $CMDX_ATTEMPT"'] });
      await waitForOutput(admin, job.id, 'attempt 1');
      expect((await processesOfJob(job.id, 1)).length).toBeGreaterThan(0);
      doomed.child.kill('SIGKILL');
      await doomed.exited;
      await waitFor(async () => (await processesOfJob(job.id, 1)).length === 0, { timeoutMs: 2000, message: "the dead agent's job to be gone" });
      await startAgent('rescuer', ['--labels', 'crash']);
      const done = await waitForJob(admin, job.id, undefined, 30_000);
      expect(done).toMatchObject({ state: 'succeeded', workerName: 'rescuer' });
      expect(done.attempts.map((a) => [a.workerName, a.outcome])).toEqual([
        ['doomed', 'expired'],
        ['rescuer', 'completed'],
      ]);
      expect(await admin.getLog(job.id)).toBe('attempt 2\ndone 2\n');
    }, 60_000);
  },
);
