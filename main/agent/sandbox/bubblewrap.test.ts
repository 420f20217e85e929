// The bwrap command line as data: what the job is shown, and what it is not; then a network job for real.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_LIMITS } from '../../../protocol/limits';
import { descendantsOf } from '../process-tree';
import { JobRunner } from '../runner';
import { processesOfJob } from '../test-support';
import { waitFor } from '../../../test/wait';
import { bubblewrapArgs, bubblewrapSandbox, findBubblewrap } from './bubblewrap';
import { chooseSandbox, probeSandbox, type Sandbox } from './index';
import { findSlirp4netns } from './slirp4netns';

const folders = { workspace: '/w/jobs/j.1/workspace', home: '/w/jobs/j.1/home', tmp: '/w/jobs/j.1/tmp' };
const args = (network: boolean, limits = DEFAULT_JOB_LIMITS) =>
  bubblewrapArgs({ folders, network, limits }, '/bin/sh', ['-c', 'make'], ['--ro-bind', '/usr', '/usr'], '/w/state/sandbox');
const pairs = (list: string[], flag: string) => list.flatMap((arg, i) => (arg === flag ? [`${list[i + 1]} ${list[i + 2]}`] : []));

describe('bubblewrapArgs', () => {
  it('gives the job new namespaces, no network unless allowed, and kills it with the agent', () => {
    const off = args(false);
    for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--die-with-parent', '--new-session']) {
      expect(off).toContain(flag);
    }
    expect(args(true)).not.toContain('--unshare-net');
  });

  it('binds only its own three folders read-write, and /etc files read-only (resolv.conf only with network)', () => {
    expect(pairs(args(false), '--bind')).toEqual([`${folders.workspace} /workspace`, `${folders.home} /home/job`, `${folders.tmp} /tmp`]);
    expect(pairs(args(false), '--ro-bind')).toEqual(['/usr /usr', '/w/state/sandbox/passwd /etc/passwd', '/w/state/sandbox/group /etc/group']);
    expect(pairs(args(false), '--ro-bind-try').every((pair) => /^\/etc\/\S+ \/etc\/\S+$/.test(pair))).toBe(true);
    expect(args(false)).not.toContain('/etc/resolv.conf');
    expect(args(true)).toContain('/etc/resolv.conf');
  });

  it('sets the rlimits inside the sandbox, no file past the disk cap, then runs the command', () => {
    const list = args(false, { ...DEFAULT_JOB_LIMITS, processes: 64, openFiles: 256, fileSizeMiB: 100, diskMiB: 10 });
    const tail = list.slice(list.indexOf('/usr/bin/prlimit'));
    expect(tail).toEqual(['/usr/bin/prlimit', '--nproc=64', '--nofile=256', `--fsize=${10 * 1024 * 1024}`, '--core=0', '--', '/bin/sh', '-c', 'make']);
  });
});

// A network job for real (the test process's own user): its own network through slirp4netns, the host's loopback
// out of reach, nothing of slirp4netns left after it.
const networkReady = process.platform === 'linux' && findBubblewrap() !== null && findSlirp4netns() !== null;

describe.skipIf(!networkReady)(networkReady ? 'a network job in bubblewrap' : 'a network job — skipped: bwrap or slirp4netns is not installed', () => {
  let dir: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cmdx-net-'));
    const choice = await chooseSandbox(path.join(dir, 'state'), 'auto', true);
    expect(choice, choice.noNetworkWhy).toMatchObject({ network: true });
    sandbox = choice.sandbox;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function runNetworkJob(command: string, jobSandbox = sandbox): Promise<{ output: string; succeeded: boolean }> {
    const jobDir = await mkdtemp(path.join(dir, 'job-'));
    const jobFolders = { workspace: path.join(jobDir, 'workspace'), home: path.join(jobDir, 'home'), tmp: path.join(jobDir, 'tmp') };
    for (const folder of Object.values(jobFolders)) await mkdir(folder);
    let output = '';
    const result = await new JobRunner(
      { id: 'net', attempt: 1, commands: [command], shell: 'bash', env: {}, continueOnError: false },
      { folders: jobFolders, network: true, limits: DEFAULT_JOB_LIMITS },
      { commandStarted: () => {}, output: (_stream, data) => (output += data.toString()), commandEnded: () => {} },
      { killGraceMs: 1000, sandbox: jobSandbox },
    ).run();
    return { output, succeeded: result.succeeded };
  }

  /** slirp4netns processes this test process started that still run (or wait to be reaped). */
  async function ourSlirps(): Promise<number[]> {
    return (await descendantsOf(process.pid)).map((p) => p.pid).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'slirp4netns';
      } catch {
        return false;
      }
    });
  }

  it("cannot connect to a service on the host's loopback", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const { output } = await runNetworkJob(`(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo CONNECTED || echo refused`);
      expect(output).toBe('refused\n');
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it('has a network interface of its own, up, with a default route, and its loopback works', async () => {
    const { output, succeeded } = await runNetworkJob(
      'cat /proc/net/route; cat /etc/resolv.conf; node -e "const s = require(\'net\').createServer((c) => c.end(\'pong\')).listen(0, \'127.0.0.1\', () => require(\'net\').connect(s.address().port, \'127.0.0.1\').on(\'data\', (d) => { console.log(\'own loopback: \' + d); process.exit(0) }))"',
    );
    expect(succeeded, output).toBe(true);
    expect(output).toMatch(/^tap0\t00000000\t0202000A\t/m); // default route through slirp4netns's gateway 10.0.2.2
    expect(output).toContain('nameserver 10.0.2.3');
    expect(output).toContain('own loopback: pong');
  });

  it('fails with the reason, and leaves nothing held, where slirp4netns cannot start (never runs without its network)', async () => {
    const broken = await bubblewrapSandbox(findBubblewrap()!, path.join(dir, 'broken'), '/bin/false');
    await expect(probeSandbox(broken, path.join(dir, 'broken'), true)).rejects.toThrow(/^slirp4netns: exited$/);
    const { output, succeeded } = await runNetworkJob('echo RAN', broken);
    expect(succeeded).toBe(false);
    expect(output).toBe("cmd-executor: the job's network could not be set up: slirp4netns: exited\n");
    // The sandbox's first process, held before the job's command, carries the job's environment.
    await waitFor(async () => (await processesOfJob('net')).length === 0, { timeoutMs: 2000, message: 'the held sandbox to be gone' });
  });

  it('leaves no slirp4netns running after the job', async () => {
    const { succeeded } = await runNetworkJob('sleep 0.2');
    expect(succeeded).toBe(true);
    expect(await ourSlirps()).toEqual([]);
  });
});
