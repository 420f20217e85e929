import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/wait';
import { livingGroupMembers } from './process-tree';
import { DEFAULT_JOB_LIMITS } from '../../protocol/limits';
import { JobRunner, jobEnvironment, shellInvocation, type CommandEnd, type RunnerJob } from './runner';
import type { SandboxedJob } from './sandbox';

const posix = process.platform !== 'win32';

interface Recorded {
  stdout: string;
  stderr: string;
  events: string[];
  ends: CommandEnd[];
  pids: number[];
}

function recorder(): { hooks: ConstructorParameters<typeof JobRunner>[2]; seen: Recorded } {
  const seen: Recorded = { stdout: '', stderr: '', events: [], ends: [], pids: [] };
  return {
    seen,
    hooks: {
      commandStarted: (index) => seen.events.push(`start ${index}`),
      output: (stream, data) => {
        seen[stream] += data.toString();
      },
      commandEnded: (index, result) => {
        seen.events.push(`end ${index}`);
        seen.ends.push(result);
      },
    },
  };
}

const job = (commands: string[], extra: Partial<RunnerJob> = {}): RunnerJob => ({
  id: 'job_test',
  attempt: 2,
  commands,
  shell: null,
  env: {},
  continueOnError: false,
  ...extra,
});

let workspace: string;
beforeEach(async () => {
  workspace = await mkdtemp(path.join(os.tmpdir(), 'cmdx-runner-'));
});
afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
});
/** The runner's place: everything in the one temp folder, no sandbox (the sandbox has its own tests). */
const inWorkspace = (): SandboxedJob => ({
  folders: { workspace, home: path.join(workspace, 'home'), tmp: workspace },
  network: false,
  limits: DEFAULT_JOB_LIMITS,
});

describe('shellInvocation', () => {
  it('uses /bin/sh -c on POSIX and cmd.exe /d /s /c with verbatim quoting on Windows', () => {
    expect(shellInvocation(null, 'echo hi', 'linux')).toEqual({ file: '/bin/sh', args: ['-c', 'echo hi'], windowsVerbatimArguments: false });
    expect(shellInvocation(null, 'echo hi', 'win32', 'C:\\Windows\\system32\\cmd.exe')).toEqual({
      file: 'C:\\Windows\\system32\\cmd.exe',
      args: ['/d', '/s', '/c', '"echo hi"'],
      windowsVerbatimArguments: true,
    });
  });

  it("honours the job's shell with its own arguments, PowerShell included", () => {
    expect(shellInvocation('bash -eo pipefail', 'x', 'linux').args).toEqual(['-eo', 'pipefail', '-c', 'x']);
    expect(shellInvocation('pwsh', 'Get-Date', 'linux').args).toEqual(['-NoProfile', '-NonInteractive', '-Command', 'Get-Date']);
    expect(shellInvocation('C:\\Windows\\cmd.EXE', 'dir', 'win32').args).toEqual(['/d', '/s', '/c', '"dir"']);
  });
});

describe('jobEnvironment', () => {
  it("passes only the allow-list, the job's own home and temp folder, then its variables, then the job id and attempt", () => {
    const env = jobEnvironment(
      { PATH: '/bin', HOME: '/home/u', TMPDIR: '/tmp/u', CMDX_JOIN_TOKEN: 'secret', AWS_SECRET_ACCESS_KEY: 'x' },
      job(['true'], { env: { GREETING: 'hi', CMDX_JOB_ID: 'forged' } }),
      { workspace: '/workspace', home: '/home/job', tmp: '/tmp' },
    );
    expect(env).toEqual({
      PATH: '/bin',
      HOME: '/home/job',
      USERPROFILE: '/home/job',
      TMPDIR: '/tmp',
      TEMP: '/tmp',
      TMP: '/tmp',
      GREETING: 'hi',
      CMDX_JOB_ID: 'job_test',
      CMDX_ATTEMPT: '2',
    });
  });
});

describe.runIf(posix)('JobRunner', () => {
  it('runs the commands in order in the workspace with the scrubbed environment', async () => {
    const { hooks, seen } = recorder();
    const runner = new JobRunner(
      job(['pwd', 'echo "$GREETING $CMDX_JOB_ID $CMDX_ATTEMPT ${SECRET:-unset}"', 'echo err >&2; echo done > out.txt'], {
        env: { GREETING: 'hello' },
      }),
      inWorkspace(),
      hooks,
      { killGraceMs: 1000, baseEnv: { PATH: process.env.PATH, SECRET: 'leaked' } },
    );
    const result = await runner.run();
    expect(result).toMatchObject({ succeeded: true, exitCode: 0, stopped: false });
    expect(result.commands.map((c) => c.exitCode)).toEqual([0, 0, 0]);
    expect(seen.events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(seen.stdout).toBe(`${await realpath(workspace)}\nhello job_test 2 unset\n`);
    expect(seen.stderr).toBe('err\n');
    expect(await readFile(path.join(workspace, 'out.txt'), 'utf8')).toBe('done\n');
  });

  it('runs at the lowest priority', async () => {
    const { hooks, seen } = recorder();
    await new JobRunner(job(['nice']), inWorkspace(), hooks, { killGraceMs: 1000 }).run();
    expect(seen.stdout.trim()).toBe('19');
  });

  it('stops at the first failure, and with continueOnError runs on and reports the first failure', async () => {
    const first = recorder();
    const stopped = await new JobRunner(job(['exit 3', 'echo never']), inWorkspace(), first.hooks, { killGraceMs: 1000 }).run();
    expect(stopped).toMatchObject({ succeeded: false, exitCode: 3 });
    expect(first.seen.stdout).toBe('');

    const second = recorder();
    const all = await new JobRunner(job(['exit 3', 'echo still', 'exit 4'], { continueOnError: true }), inWorkspace(), second.hooks, {
      killGraceMs: 1000,
    }).run();
    expect(all).toMatchObject({ succeeded: false, exitCode: 3 });
    expect(all.commands.map((c) => c.exitCode)).toEqual([3, 0, 4]);
    expect(second.seen.stdout).toBe('still\n');
  });

  it('records the signal that ended a command and the time it took', async () => {
    const { hooks, seen } = recorder();
    const result = await new JobRunner(job(['sleep 0.2; kill -TERM $$']), inWorkspace(), hooks, { killGraceMs: 1000 }).run();
    expect(result).toMatchObject({ succeeded: false, exitCode: null });
    expect(seen.ends[0]).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect(seen.ends[0]!.durationMs).toBeGreaterThanOrEqual(150);
  });

  it('says so when the shell cannot start', async () => {
    const { hooks, seen } = recorder();
    const result = await new JobRunner(job(['echo hi'], { shell: '/nonexistent/shell' }), inWorkspace(), hooks, { killGraceMs: 1000 }).run();
    expect(result).toMatchObject({ succeeded: false, exitCode: 127 });
    expect(seen.stderr).toMatch(/\/nonexistent\/shell.*No such file or directory/);
  });

  it('stop() kills the whole tree, escalating to SIGKILL for what ignores SIGTERM', async () => {
    const { hooks, seen } = recorder();
    const runner = new JobRunner(
      job(["trap '' TERM; sleep 30 & sleep 30 & echo $$; wait", 'echo never']),
      inWorkspace(),
      hooks,
      { killGraceMs: 300 },
    );
    const running = runner.run();
    const pgid = Number(await waitFor(() => seen.stdout.trim() || undefined));
    expect((await livingGroupMembers(pgid)).length).toBeGreaterThanOrEqual(3);
    const started = Date.now();
    await runner.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const result = await running;
    expect(result.stopped).toBe(true);
    expect(result.succeeded).toBe(false);
    expect(await livingGroupMembers(pgid)).toEqual([]);
    expect(seen.stdout).not.toContain('never');
  });

  it('kills what a command left running in the background when the job ends', async () => {
    const { hooks, seen } = recorder();
    const result = await new JobRunner(job(['sleep 30 >/dev/null 2>&1 & echo $$']), inWorkspace(), hooks, { killGraceMs: 1000 }).run();
    expect(result.succeeded).toBe(true);
    expect(await livingGroupMembers(Number(seen.stdout.trim()))).toEqual([]);
  });

  it('suspend freezes the tree and resume lets it finish with the right result', async () => {
    const { hooks, seen } = recorder();
    const runner = new JobRunner(
      job(['echo $$; i=0; while [ $i -lt 5 ]; do i=$((i+1)); sleep 0.05; done; echo "count=$i"']),
      inWorkspace(),
      hooks,
      { killGraceMs: 1000 },
    );
    const running = runner.run();
    const pgid = Number(await waitFor(() => seen.stdout.split('\n')[0] || undefined));
    expect(runner.suspend()).toBe(true);
    await waitFor(async () => (await processStates(pgid)).every((state) => state === 'T'), { message: 'the group to stop' });
    const frozenAt = seen.stdout;
    runner.resume();
    const result = await running;
    expect(frozenAt).not.toContain('count=');
    expect(result.succeeded).toBe(true);
    expect(seen.stdout).toContain('count=5');
  });
});

async function processStates(pgid: number): Promise<string[]> {
  const states: string[] = [];
  for (const pid of await livingGroupMembers(pgid)) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      states.push(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!);
    } catch {
      // exited meanwhile
    }
  }
  return states;
}
