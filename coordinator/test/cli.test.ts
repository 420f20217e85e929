// The real `node coordinator` process: start, kill -9, restart on the same data dir; token sub-commands;
// flag errors; an unusable data dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../protocol/client';
import { makeTempDir, registerTestWorker } from '../../test/pool';
import { waitFor } from '../../test/wait';

const ENTRY = fileURLToPath(new URL('../index.js', import.meta.url));

function runCli(args: string[], cwd?: string) {
  const result = spawnSync(process.execPath, [ENTRY, ...args], { encoding: 'utf8', timeout: 30_000, ...(cwd ? { cwd } : {}) });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A CLI failure as the README promises it: exactly one line, no stack. */
function expectOneLineError(run: { stderr: string }, pattern: RegExp): void {
  expect(run.stderr).toMatch(pattern);
  expect(run.stderr.trimEnd().split('\n'), run.stderr).toHaveLength(1);
}

const children: ChildProcess[] = [];

async function startCli(
  dataDir: string,
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string; adminToken: string; output: () => string }> {
  const child = spawn(process.execPath, [ENTRY, '--port', '0', '--data-dir', dataDir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const [, url, code] = await waitFor(() => /serving (http:\/\/\S+)[\s\S]*#code=(\S+) /.exec(out) ?? undefined, {
    timeoutMs: 30_000,
    message: 'the coordinator to print its URL and sign-in link',
  });
  const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  // The printed link carries a one-time code, never the admin token.
  expect(out).not.toContain(adminToken);
  expect((await new ApiClient({ baseUrl: url! }).signIn(code!)).token).toMatch(/^cmdx_session_/);
  return { child, url: url!, adminToken, output: () => out };
}

/**
 * Sends `signal` the moment `pattern` shows in the output, as a person or a supervisor reacting to a line would:
 * not a poll later, so a handler installed only after the line would be missed (the default action kills).
 */
function signalOnOutput(run: { child: ChildProcess; output: () => string }, pattern: RegExp, signal: NodeJS.Signals): void {
  const check = () => {
    if (!pattern.test(run.output())) return;
    run.child.stdout!.off('data', check);
    run.child.kill(signal);
  };
  run.child.stdout!.on('data', check);
  check();
}

const exitCode = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

describe('node coordinator', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) {
      await chmod(dir, 0o700).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resumes after kill -9 with every accepted job and recorded result intact', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const first = await startCli(dataDir);
    const submitter = new ApiClient({ baseUrl: first.url, token: first.adminToken });
    const joinToken = (await readFile(join(dataDir, 'join.token'), 'utf8')).trim();
    const worker = await registerTestWorker(first.url, joinToken);
    const done = await submitter.submitJob({ commands: ['echo done'] });
    const claim = (await worker.client.claim(worker.id, 0))!;
    await worker.client.sendOutput(claim.lease.id, [{ seq: 0, stream: 'stdout', data: 'recorded\n' }]);
    await worker.client.complete(claim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    const running = await submitter.submitJob({ commands: ['sleep 1000'] });
    const runningClaim = (await worker.client.claim(worker.id, 0))!;
    await worker.client.sendOutput(runningClaim.lease.id, [{ seq: 0, stream: 'stdout', data: 'partial\n' }]);
    const queued = [];
    for (let i = 0; i < 20; i++) queued.push((await submitter.submitJob({ commands: [`echo ${i}`] })).id);

    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await startCli(dataDir);
    expect(second.adminToken).toBe(first.adminToken);
    const after = new ApiClient({ baseUrl: second.url, token: second.adminToken });
    const doneAfter = await after.getJob(done.id);
    expect(doneAfter.state).toBe('succeeded');
    expect(await after.getLog(done.id)).toBe('recorded\n');
    expect((await after.getJob(running.id)).state).toBe('leased');
    expect(await after.getLog(running.id)).toBe('partial\n');
    const workerAfter = new ApiClient({ baseUrl: second.url, token: worker.token });
    await workerAfter.sendOutput(runningClaim.lease.id, [{ seq: 1, stream: 'stdout', data: 'more\n' }]);
    await workerAfter.complete(runningClaim.lease.id, { outcome: 'succeeded', exitCode: 0 });
    expect(await after.getLog(running.id)).toBe('partial\nmore\n');
    const states = await Promise.all(queued.map(async (id) => (await after.getJob(id)).state));
    expect(new Set(states)).toEqual(new Set(['queued']));
  });

  it('creates, lists and revokes submit tokens', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const server = await startCli(dataDir);
    const created = runCli(['token', 'create', '--name', 'alice', '--data-dir', dataDir]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^cmdx_submit_/);
    const again = runCli(['token', 'create', '--name', 'alice', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^cmd-executor: a live token is already named "alice"/);
    const alice = new ApiClient({ baseUrl: server.url, token });
    expect((await alice.listJobs()).jobs).toEqual([]);
    const listed = runCli(['token', 'list', '--data-dir', dataDir]);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+ROLE\s+NAME\s+CREATED\s+STATE$/);
    expect(listed.stdout).toMatch(/submit\s+alice\s+.*active/);
    expect(listed.stdout).not.toContain(token);
    expect(runCli(['token', 'revoke', '--name', 'alice', '--data-dir', dataDir]).code).toBe(0);
    await waitFor(async () => (await alice.listJobs().then(() => false, (e: { status: number }) => e.status === 401)), {
      timeoutMs: 15_000,
      message: 'the revoked token to be refused',
    });
    expect(runCli(['token', 'create', '--data-dir', dataDir]).stderr).toMatch(/--name/);
  });

  it('makes enrollment codes with `worker invite`: the code enrolls as many workers as its uses', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const server = await startCli(dataDir, ['--no-advertise']);
    expect(server.output()).toContain('LAN advertisement: off (--no-advertise)');
    const made = runCli(['worker', 'invite', '--uses', '1', '--expires', '30m', '--server', server.url, '--data-dir', dataDir]);
    expect(made.code).toBe(0);
    const code = /^\s+(cmdx_join_\S+)$/m.exec(made.stdout)![1]!;
    expect(made.stdout).toContain(`CMDX_JOIN_TOKEN=${code} npm run -s worker -- --server ${server.url}`);
    await registerTestWorker(server.url, code, { name: 'from-cli-invite' });
    await expect(registerTestWorker(server.url, code, { name: 'second' })).rejects.toThrow(/unknown, expired or revoked/);
    const bad = runCli(['worker', 'invite', '--expires', 'soon', '--data-dir', dataDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--expires "soon": give a number and a unit/);
  });

  it('explains bad flags and an unusable data dir without a stack trace', async () => {
    const help = runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--data-dir DIR .*CMDX_DATA_DIR/);
    for (const args of [['--port', 'abc'], ['--bogus'], ['--port'], ['--tls-cert', 'x.pem'], ['extra'], ['--name', ' '], ['--name', 'a\u001b[2Jb']]) {
      const run = runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expectOneLineError(run, /^cmd-executor: /);
      expect(run.stderr.match(/--help/g), 'one hint').toHaveLength(1);
    }
    expectOneLineError(runCli(['--prot', '1']), /^cmd-executor: unknown flag --prot \(see --help\)\n$/);
    const parent = await makeTempDir();
    dirs.push(parent);
    const fileInTheWay = join(parent, 'file');
    await writeFile(fileInTheWay, 'x');
    const blocked = runCli(['--port', '0', '--data-dir', join(fileInTheWay, 'data')]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/cannot use data dir .*a file is in the way/);
  });

  it('refuses token commands where there is no coordinator data, in one line', async () => {
    const empty = await makeTempDir();
    dirs.push(empty);
    for (const args of [['token', 'create', '--name', 'bob'], ['token', 'list']]) {
      const run = runCli(args, empty);
      expect(run.code, args.join(' ')).toBe(2);
      expectOneLineError(run, /^cmd-executor: no coordinator data in .*\.data\/coordinator: run this where the coordinator runs/);
    }
  });

  it('stops cleanly on a Ctrl-C that npm forwards a second time, exits 0, and keeps its local worker across restarts', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const first = await startCli(dataDir, ['--with-worker']);
    // What a terminal's Ctrl-C under `npm start` delivers: SIGINT from the tty, then the same one from npm.
    signalOnOutput(first, /joined the pool/, 'SIGINT');
    await waitFor(() => /SIGINT: stopping/.test(first.output()) || first.child.signalCode, { message: 'the first SIGINT to be taken' });
    expect(first.child.signalCode, 'killed by the SIGINT it should have taken').toBeNull();
    first.child.kill('SIGINT');
    expect(await exitCode(first.child)).toBe(0);
    expect(first.output()).toMatch(/\[INFO\] stopped/);
    expect(first.output()).not.toMatch(/exiting now/);
    const id = /registered as worker (wkr_\w+)/.exec(first.output())?.[1];
    expect(id).toBeDefined();

    // The same address, as `npm start` has (its port is fixed): the worker knows its coordinator by its URL.
    const second = await startCli(dataDir, ['--with-worker', '--port', new URL(first.url).port]);
    await waitFor(() => /joined the pool/.test(second.output()), { message: 'the restart to finish' });
    const workers = await new ApiClient({ baseUrl: second.url, token: second.adminToken }).listWorkers();
    expect(workers.map((worker) => worker.id)).toEqual([id]);
    second.child.kill('SIGTERM');
    expect(await exitCode(second.child)).toBe(0);
  });

  it.skipIf(process.getuid?.() === 0)('refuses a read-only data dir (skipped as root, who may write anywhere)', async () => {
    const readOnly = await makeTempDir();
    dirs.push(readOnly);
    await chmod(readOnly, 0o500);
    const denied = runCli(['--port', '0', '--data-dir', readOnly]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/permission denied/);
  });
});
