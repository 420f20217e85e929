import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../../protocol/client';
import { startTestCoordinator, type TestCoordinator } from '../../../test/pool';
import { waitFor } from '../../../test/wait';
import { makeZip } from '../../../test/zips';
import { ProcessPool } from '../../../test/faults/process-pool';
import { AgentFleet, readZip, waitForJob, workspaceOfRunningJob } from '../test-support';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: 'worker' | 'submit') => path.join(repo, 'bin', `${name}.js`);

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Launched {
  child: ChildProcess;
  finished: Promise<Finished>;
  /** stdout so far */
  output(): string;
}

/** A CLI as a real child process, with only the environment we give it. */
function launch(name: 'worker' | 'submit', args: string[], env: Record<string, string> = {}): Launched {
  const child = spawn(process.execPath, [bin(name), ...args], {
    cwd: repo,
    env: { PATH: process.env.PATH!, HOME: os.homedir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const finished = new Promise<Finished>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, finished, output: () => stdout };
}

const run = (name: 'worker' | 'submit', args: string[], env?: Record<string, string>) => launch(name, args, env).finished;

function expectCleanFailure(result: Finished, message: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('command lines without a pool', () => {
  it('--help lists every flag with its environment variable', async () => {
    const worker = await run('worker', ['--help']);
    expect(worker.code).toBe(0);
    expect(worker.stdout).toMatch(/Usage: CMDX_JOIN_TOKEN=CODE npm run -s worker/);
    expect(worker.stdout).toMatch(/--join-token CODE .*env CMDX_JOIN_TOKEN/);
    expect(worker.stdout).toMatch(/--join-token-file FILE .*env CMDX_JOIN_TOKEN_FILE/);
    const submit = await run('submit', ['--help']);
    expect(submit.code).toBe(0);
    expect(submit.stdout).toMatch(/--zip FILE .*env CMDX_ZIP/);
    expect(submit.stdout).toMatch(/--detach/);
    expect(submit.stdout).toMatch(/--token-file FILE .*env CMDX_TOKEN_FILE/);
  });

  it('bad flags and bad input (from flags or environment variables) exit 2 with a message, never a stack', async () => {
    const nowhere = ['--server', 'http://127.0.0.1:9', '--token', 't'];
    const fromEnv = { CMDX_SERVER: 'http://127.0.0.1:9', CMDX_TOKEN: 't' };
    const cases: [ReturnType<typeof run>, RegExp][] = [
      [run('worker', ['--bogus']), /unknown flag --bogus/],
      [run('worker', ['--join-token', 't']), /--server is required/],
      [run('worker', ['--server', 'http://127.0.0.1:9,pool-b:8080', '--join-token', 't']), /^error: --server: "pool-b:8080" is not an http:\/\/ or https:\/\/ URL\n$/],
      [run('submit', ['echo hi'], { CMDX_SERVER: 'http://127.0.0.1:9, http://[::1', CMDX_TOKEN: 't' }), /^error: --server: "http:\/\/\[::1" is not a URL; give one like http:\/\/pool-host:8080 \(several comma-separated\)\n$/],
      [run('submit', ['--server', ',', '--token', 't', 'ls']), /^error: --server: no coordinator URL given/],
      [run('worker', ['--server', 'http://127.0.0.1:9', '--join-token', 't', '--labels', 'bad label']), /label "bad label"/],
      [run('submit', nowhere), /give at least one command/],
      [run('submit', [...nowhere, '--zip', '/nonexistent.zip', 'ls']), /--zip \/nonexistent\.zip: no such file/],
      [run('submit', [...nowhere, '--env', 'NOEQUALS', 'ls']), /NAME=VALUE/],
      [run('submit', ['--server', 'http://127.0.0.1:9', 'ls']), /a token is required: CMDX_TOKEN or --token-file/],
      [run('submit', ['--server', 'http://127.0.0.1:9', '--token-file', '/nonexistent', 'ls']), /--token-file \/nonexistent: no such file/],
      [run('submit', [...nowhere, '--secret', 'CMDX_UNSET_SECRET', 'ls']), /no env variable CMDX_UNSET_SECRET/],
      [run('submit', [...nowhere, '--matrix', 'n', 'ls']), /--matrix expects NAME=VALUE, got "n"/],
      [run('submit', [...nowhere, '--matrix', 'n=', 'ls']), /the job is not valid: matrix\.n: give at least one value/],
      [run('submit', [...nowhere, '--matrix', 'a=1,2,3,4,5,6,7,8,9,10,11', '--matrix', 'b=1,2,3,4,5,6,7,8,9,10', 'ls']), /11 × 10 = 110 jobs, more than the 100/],
      [run('submit', [...nowhere, '--matrix', 'n=1,2', '--artifacts', 'x.zip', 'ls']), /--artifacts saves one job's files/],
      // every flag also comes from its environment variable
      [run('submit', ['echo hi'], fromEnv), /could not submit the job: cannot reach http:\/\/127\.0\.0\.1:9/],
      // every node of the list refuses: one line still
      [run('submit', ['echo hi'], { ...fromEnv, CMDX_SERVER: 'http://127.0.0.1:9,http://127.0.0.1:7' }), /^error: could not submit the job: cannot reach http:\/\/127\.0\.0\.1:9: fetch failed[^\n]*\n$/],
      [run('submit', ['echo hi'], { ...fromEnv, CMDX_TIMEOUT: '0' }), /the job is not valid: timeoutSec/],
    ];
    for (const [result, message] of cases) expectCleanFailure(await result, message);
  });

  it('a worker that cannot register says where it tried and why', async () => {
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'cmdx-cli-unreachable-'));
    try {
      const worker = launch('worker', ['--server', 'http://127.0.0.1:9', '--join-token', 't', '--work-dir', workDir]);
      await waitFor(() => /did not answer the registration/.test(worker.output()), { message: 'the warning' });
      expect(worker.output()).toMatch(/did not answer the registration: cannot reach http:\/\/127\.0\.0\.1:9: fetch failed \(.+\)/);
      worker.child.kill('SIGTERM');
      expect((await worker.finished).code).toBe(0);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it('says why a coordinator cannot be reached, not just "fetch failed": https against an http server', async () => {
    const pool = await startTestCoordinator();
    try {
      const https = pool.url.replace(/^http:/, 'https:');
      const result = await run('submit', ['--server', https, 'echo hi'], { CMDX_TOKEN: pool.adminToken });
      expectCleanFailure(result, /cannot reach https:\/\/127\.0\.0\.1:\d+: fetch failed \(.+\): is it an http:\/\/ server\?/);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      await pool.stop();
    }
  });
});

describe('the submit CLI across a kill -9 of the coordinator', () => {
  let pool: ProcessPool;
  afterAll(() => pool?.cleanUp());

  it('waits, reconnects when it is back, streams the rest and exits with the job\'s code', { timeout: 120_000 }, async () => {
    pool = await ProcessPool.start();
    await pool.startAgent('steady');
    // The gate is in the job's workspace: the sandboxed job sees no other folder of this host.
    const submit = launch('submit', [
      '--server', pool.coordinator.url, '--token', pool.coordinator.adminToken,
      'echo before-the-crash; while [ ! -f gate ]; do sleep 0.05; done; echo after-the-restart',
    ]);
    await waitFor(() => submit.output().includes('before-the-crash'), { message: 'output before the crash' });
    const workspace = await workspaceOfRunningJob(pool.agentDir('steady'));
    await pool.killCoordinator();
    await pool.startCoordinator();
    await writeFile(path.join(workspace, 'gate'), '');
    const result = await submit.finished;
    expect(result).toMatchObject({ code: 0, stdout: 'before-the-crash\nafter-the-restart\n' });
    expect(result.stderr).toMatch(/lost the connection to http:\/\/127\.0\.0\.1:\d+.*; reconnecting \(the job goes on: http:\/\/127\.0\.0\.1:\d+\/#\/jobs\/job_\w+\)/);
    expect(result.stderr).not.toMatch(/terminated\n*$/);
  });
});

describe('command lines on a real pool', () => {
  let pool: TestCoordinator;
  let admin: ApiClient;
  const fleet = new AgentFleet();
  let scratch: string;
  const submit = (args: string[], env?: Record<string, string>) =>
    launch('submit', ['--server', pool.url, ...args], { CMDX_TOKEN: pool.adminToken, ...env });

  beforeAll(async () => {
    pool = await startTestCoordinator({ leaseTtlSec: 5, heartbeatIntervalSec: 0.2 });
    admin = new ApiClient({ baseUrl: pool.url, token: pool.adminToken });
    await fleet.start({ server: pool.url, joinToken: pool.joinToken, name: 'in-process', killGraceMs: 500 });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'cmdx-cli-'));
  });
  afterAll(async () => {
    await fleet.stopAll();
    await pool.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("streams stdout and stderr apart and exits with the job's exit code", async () => {
    const ok = await submit(['echo out', 'echo err >&2']).finished;
    expect(ok).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });
    const failed = await submit(['echo before', 'exit 3', 'echo never']).finished;
    expect(failed.code).toBe(3);
    expect(failed.stdout).toBe('before\n');
    expect(failed.stderr).toMatch(/failed: exit code 3/);
  });

  it('reads the token from a file, warns when it is typed on the command line, and masks --secret values', async () => {
    const tokenFile = path.join(scratch, 'token');
    await writeFile(tokenFile, `${pool.adminToken}\n`, { mode: 0o600 });
    const fromFile = await launch('submit', ['--server', pool.url, '--token-file', tokenFile, '--secret', 'DEPLOY_KEY', 'echo "k=$DEPLOY_KEY"'], {
      DEPLOY_KEY: 'hunter2-deploy',
    }).finished;
    expect(fromFile).toMatchObject({ code: 0, stdout: 'k=***\n', stderr: '' });
    const typed = await launch('submit', ['--server', pool.url, '--token', pool.adminToken, 'true']).finished;
    expect(typed.code).toBe(0);
    expect(typed.stderr).toMatch(/--token on the command line is visible to other users/);
  });

  it('exits 124 when the job times out', async () => {
    const result = await submit(['--timeout', '1', 'sleep 30']).finished;
    expect(result.code).toBe(124);
    expect(result.stderr).toMatch(/job job_\w+ timed out: after its 1 s timeout\n$/);
  });

  it('sends a folder (zipped on the fly), passes --env values with commas, and brings back --output files', async () => {
    const folder = path.join(scratch, 'project');
    await mkdir(path.join(folder, 'src'), { recursive: true });
    await writeFile(path.join(folder, 'src', 'input.txt'), 'from the folder\n');
    const artifacts = path.join(scratch, 'artifacts.zip');
    const result = await submit([
      '--dir', folder,
      '--env', 'GREETING=hello,world',
      '--output', 'result.txt',
      '--artifacts', artifacts,
      'cat src/input.txt',
      'echo "$GREETING" > result.txt',
    ]).finished;
    expect(result).toMatchObject({ code: 0, stdout: 'from the folder\n' });
    expect(result.stderr).toMatch(/saved the artifacts/);
    expect(await readZip(await readFile(artifacts))).toEqual({ 'result.txt': 'hello,world\n' });
  });

  it('--matrix runs one job per combination, prints each as it ends and a summary, and exits 1 if any failed', async () => {
    const mixed = await submit(['--matrix', 'n=1,2', '--matrix', 'mode=ok,bad', 'echo "n=$CMDX_MATRIX_n"; test "$CMDX_MATRIX_mode" = ok']).finished;
    expect(mixed.code).toBe(1);
    expect(mixed.stdout.trim().split('\n').sort()).toEqual([
      'failed    echo "n=$CMDX_MATRIX_n"; test "$CMDX_MATRIX_mode" = ok (n=1, mode=bad): exit code 1',
      'failed    echo "n=$CMDX_MATRIX_n"; test "$CMDX_MATRIX_mode" = ok (n=2, mode=bad): exit code 1',
      'succeeded echo "n=$CMDX_MATRIX_n"; test "$CMDX_MATRIX_mode" = ok (n=1, mode=ok)',
      'succeeded echo "n=$CMDX_MATRIX_n"; test "$CMDX_MATRIX_mode" = ok (n=2, mode=ok)',
    ]);
    expect(mixed.stderr).toMatch(/cmdx: 4 jobs submitted as group (grp_\w+): http:\/\/127\.0\.0\.1:\d+\/#\/groups\/\1/);
    expect(mixed.stderr).toMatch(/cmdx: group grp_\w+: 2 succeeded, 2 failed of 4\n$/);

    const ok = await submit(['--name', 'each', '--matrix', 'n=1,2,3', 'echo "$CMDX_MATRIX_n" > out.txt']).finished;
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/group grp_\w+: 3 succeeded of 3\n$/);
    const group = /group (grp_\w+):/.exec(ok.stderr)![1]!;
    const jobs = (await admin.listJobs({ group })).jobs;
    expect(jobs.map((job) => job.name).sort()).toEqual(['each (n=1)', 'each (n=2)', 'each (n=3)']);

    const detached = await submit(['--detach', '--matrix', 'n=1,2', 'true']).finished;
    expect(detached.code).toBe(0);
    expect(detached.stdout.trim()).toMatch(/^grp_\w+$/);
    await waitFor(async () => (await admin.getGroup(detached.stdout.trim())).state === 'succeeded', { message: 'the detached group to end' });
  });

  it('--detach prints the job id and returns', async () => {
    const result = await submit(['--detach', 'echo detached']).finished;
    expect(result.code).toBe(0);
    const id = result.stdout.trim();
    expect(id).toMatch(/^job_/);
    expect((await waitForJob(admin, id)).state).toBe('succeeded');
  });

  it('Ctrl-C cancels the job and exits 130', async () => {
    const submitting = submit(['echo started; sleep 30']);
    await waitFor(() => submitting.output().includes('started'), { message: 'the job to start' });
    submitting.child.kill('SIGINT');
    const result = await submitting.finished;
    expect(result.code).toBe(130);
    const [job] = (await admin.listJobs({ limit: 1 })).jobs;
    expect((await waitForJob(admin, job!.id)).state).toBe('cancelled');
  });

  it.runIf(spawnSync('script', ['--version']).status === 0)('shows upload progress when stderr is a terminal', async () => {
    const big = path.join(scratch, 'big.zip');
    const random = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 2654435761) >>> 24));
    await writeFile(big, await makeZip([{ name: 'noise.bin', data: random, compress: false }]));
    const command = [process.execPath, bin('submit'), '--server', pool.url, '--token', pool.adminToken, '--zip', big, 'ls -l noise.bin']
      .map((a) => `'${a}'`)
      .join(' ');
    // `script` gives the command a pseudo-terminal: stdout and stderr both arrive here, merged. Asynchronously:
    // the pool runs in this process.
    const terminal = spawn('script', ['-qec', command, '/dev/null'], { cwd: repo, env: { PATH: process.env.PATH!, HOME: os.homedir() } });
    let output = '';
    terminal.stdout.on('data', (d: Buffer) => (output += d));
    const status = await new Promise((resolve) => terminal.on('close', resolve));
    const result = { status, stdout: output };
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/uploading 3\.0 \/ 3\.0 MiB \(100%\)/);
    expect(result.stdout).toMatch(/noise\.bin/);
  });

  it('the headless worker runs jobs and leaves the pool on SIGTERM', async () => {
    const workDir = path.join(scratch, 'worker');
    const worker = launch('worker', ['--name', 'headless', '--labels', 'cli'], {
      CMDX_SERVER: pool.url,
      CMDX_JOIN_TOKEN: pool.joinToken,
      CMDX_WORK_DIR: workDir,
    });
    await waitFor(async () => (await admin.listWorkers()).some((w) => w.name === 'headless'), { message: 'the worker to join' });
    const job = await admin.submitJob({ commands: ['echo on the headless worker'], labels: ['cli'] });
    const done = await waitForJob(admin, job.id);
    expect(done).toMatchObject({ state: 'succeeded', workerName: 'headless' });
    worker.child.kill('SIGTERM');
    const result = await worker.finished;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[INFO\] registered as worker/);
    expect(result.stdout).toMatch(/\[INFO\] stopped/);
    expect((await admin.listWorkers()).map((w) => w.name)).toEqual(['in-process']);
  });
});
