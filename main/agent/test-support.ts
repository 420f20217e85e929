// Helpers shared by the agent's tests: agents with temp work dirs that clean up after themselves, a logger
// that keeps lines for assertions, and readers of a job's output.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import type { Job, JobState } from '../../protocol/api';
import type { ApiClient } from '../../protocol/client';
import { waitFor } from '../../test/wait';
import { Agent, type AgentOptions } from './index';
import { formatFields, type AgentLogger } from './logger';

export interface MemoryLogger extends AgentLogger {
  lines: string[];
}

export function memoryLogger(): MemoryLogger {
  const lines: string[] = [];
  const add = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message}${formatFields(fields)}`);
  };
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

export interface TestAgent {
  agent: Agent;
  logger: MemoryLogger;
  workDir: string;
}

/** Agents started here are stopped and their work dirs removed by `stopAll()`. */
export class AgentFleet {
  private readonly started: TestAgent[] = [];

  async start(options: Partial<AgentOptions> & { server: string; joinToken: string }): Promise<TestAgent> {
    const workDir = options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'cmdx-agent-')));
    const logger = memoryLogger();
    const agent = new Agent({
      killGraceMs: 2000,
      claimWaitMs: 5000,
      backoff: { baseMs: 50, maxMs: 500 },
      logger,
      ...options,
      workDir,
    });
    const entry = { agent, logger, workDir };
    this.started.push(entry);
    await agent.start();
    return entry;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.started.map(({ agent }) => agent.stop({ graceMs: 0 })));
    await Promise.all(this.started.map(({ workDir }) => rm(workDir, { recursive: true, force: true })));
    this.started.length = 0;
  }
}

const TERMINAL: JobState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export function waitForJob(client: ApiClient, id: string, states: JobState[] = TERMINAL, timeoutMs = 20_000): Promise<Job> {
  return waitFor(
    async () => {
      const job = await client.getJob(id);
      return states.includes(job.state) ? job : undefined;
    },
    { timeoutMs, intervalMs: 25, message: `job ${id} to be ${states.join('/')}` },
  );
}

/** Waits until the job's log contains `text`, and returns the log. */
export function waitForOutput(client: ApiClient, id: string, text: string | RegExp, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    async () => {
      const log = await client.getLog(id);
      return (typeof text === 'string' ? log.includes(text) : text.test(log)) ? log : undefined;
    },
    { timeoutMs, intervalMs: 25, message: `output ${String(text)} of job ${id}` },
  );
}

/**
 * The host path of the workspace of the one job running on the agent with `workDir`: where a test leaves a gate
 * file for the job, since a sandboxed job sees no other folder of the host.
 */
export function workspaceOfRunningJob(workDir: string): Promise<string> {
  return waitFor(
    async () => {
      const [dir] = await readdir(path.join(workDir, 'jobs')).catch(() => []);
      return dir ? path.join(workDir, 'jobs', dir, 'workspace') : undefined;
    },
    { message: `the workspace of the job in ${workDir}` },
  );
}

/** A ZIP's entries as name → text. */
export async function readZip(bytes: Buffer): Promise<Record<string, string>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, z) => (err || !z ? reject(err) : resolve(z))),
  );
  const entries: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err);
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.on('end', () => {
          entries[entry.fileName] = Buffer.concat(parts).toString();
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return entries;
}

/**
 * Pids of the processes still running for a job (Linux), found by the CMDX_JOB_ID every one of them inherits:
 * inside a sandbox the job's own pids are its namespace's, meaningless out here. Zombies do not count.
 */
export async function processesOfJob(jobId: string, attempt?: number): Promise<number[]> {
  const markers = [`\0CMDX_JOB_ID=${jobId}\0`, ...(attempt === undefined ? [] : [`\0CMDX_ATTEMPT=${attempt}\0`])];
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const environ = `\0${await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '')}`;
    if (!markers.every((marker) => environ.includes(marker))) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (stat && state !== 'Z' && state !== 'X') found.push(Number(name));
  }
  return found;
}
