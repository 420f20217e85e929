// `npm run submit`: sends a job (a ZIP or a folder, and commands), streams its output live (stdout to
// stdout, stderr to stderr) and exits with the job's exit code, so scripts and CI can use it like a local
// command. Ctrl-C cancels the job. Exit codes: the job's own; failed without one → 1; timed out → 124;
// cancelled → 130; could not submit or bad input → 2. With --matrix: one job per combination of values, followed
// as a group (a line as each ends, then a summary); exit 0 if all succeeded, 130 if cancelled, else 1.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
// The client, the schemas and the ZIP code are imported where they are used: --help loads only the flags.
import type { Job, JobGroup, JobSpec, JobState, StateEvent, Submitted } from '../../../protocol/api';
import type { ApiClient } from '../../../protocol/client';
import { onInterrupt } from '../../../common/interrupts';
import { helpText, parseCommandLine, tokenFromFlags, UsageError, type FlagTable } from '../../../protocol/cli';
import { fetchFor, parseServerUrls, readText, runMain, transportFlags } from './common';

const submitFlags = {
  server: { type: 'string', env: 'CMDX_SERVER', placeholder: 'URL', description: 'coordinator URL, e.g. http://pool-host:8080; several nodes of one pool comma-separated (tried in turn when one fails)' },
  token: { type: 'string', env: 'CMDX_TOKEN', placeholder: 'TOKEN', description: 'your submit (or admin) token (prefer CMDX_TOKEN or --token-file)' },
  'token-file': { type: 'string', env: 'CMDX_TOKEN_FILE', placeholder: 'FILE', description: 'read your token from this file (keeps it out of ps)' },
  secret: {
    type: 'list',
    env: 'CMDX_SECRETS',
    placeholder: 'NAME',
    description: 'pass the env variable NAME of this shell to the job as a secret: masked in output, never shown back (repeat)',
  },
  zip: { type: 'string', env: 'CMDX_ZIP', placeholder: 'FILE', description: 'a ZIP extracted into the folder the commands run in' },
  dir: { type: 'string', env: 'CMDX_DIR', placeholder: 'DIR', description: 'a folder, zipped on the fly (instead of --zip)' },
  label: { type: 'list', env: 'CMDX_LABELS', placeholder: 'L', description: 'a label the worker must have (repeat, or comma-separate)' },
  timeout: { type: 'number', env: 'CMDX_TIMEOUT', placeholder: 'SEC', description: 'seconds before the job is killed (default: the pool default)' },
  name: { type: 'string', env: 'CMDX_JOB_NAME', placeholder: 'NAME', description: 'job name shown in the pool (default: the first command)' },
  priority: { type: 'number', env: 'CMDX_PRIORITY', placeholder: 'P', description: 'higher runs first, -1000 to 1000 (default 0)' },
  retries: { type: 'number', env: 'CMDX_RETRIES', placeholder: 'N', description: 'run the job again after a failed command, up to N times (default 0)' },
  'max-attempts': { type: 'number', env: 'CMDX_MAX_ATTEMPTS', placeholder: 'N', description: 'tries when workers are lost (default: the pool default)' },
  output: { type: 'list', env: 'CMDX_OUTPUTS', placeholder: 'GLOB', description: 'files to bring back, relative to the job folder (repeat)' },
  artifacts: { type: 'string', env: 'CMDX_ARTIFACTS', placeholder: 'FILE', description: 'save the --output files as this ZIP when the job ends' },
  env: { type: 'list', env: 'CMDX_ENV', placeholder: 'K=V', description: 'an environment variable for the commands (repeat)' },
  matrix: {
    type: 'list',
    env: 'CMDX_MATRIX',
    placeholder: 'K=V1,V2',
    description: 'one job per value, each with CMDX_MATRIX_K set to it (repeat for more names: one job per combination)',
  },
  shell: { type: 'string', env: 'CMDX_SHELL', placeholder: 'SHELL', description: 'run the commands with this shell, e.g. bash (default: sh / cmd.exe)' },
  'continue-on-error': { type: 'boolean', env: 'CMDX_CONTINUE_ON_ERROR', description: 'run every command even after one fails' },
  network: { type: 'boolean', env: 'CMDX_NETWORK', description: 'the job needs the network: only workers that allow it take the job' },
  'require-sandbox': { type: 'boolean', env: 'CMDX_REQUIRE_SANDBOX', description: 'only a worker that runs jobs in a sandbox may take the job' },
  detach: { type: 'boolean', env: 'CMDX_DETACH', description: 'print the job id and return at once' },
  ...transportFlags,
} satisfies FlagTable;

const USAGE = 'CMDX_TOKEN=… npm run -s submit -- --server URL [--zip FILE | --dir DIR] [options] "command 1" "command 2" ...';
const FOOTER = `
The commands run in order in the job's folder on a worker; the output streams here live. The exit code is the
job's: its failing command's code, 1 if it failed without one, 124 if it timed out, 130 if cancelled (Ctrl-C
cancels it), 2 if it could not be submitted.
With --matrix (e.g. --matrix n=1,2,3) one job runs per value, or per combination of values of several names,
each with CMDX_MATRIX_<name> in its env; a line is printed as each ends, then a summary, and the exit code is 0
if all succeeded, 1 if any did not.`;

const EXIT_TIMED_OUT = 124;
const EXIT_CANCELLED = 130;
const PROGRESS_MIN_BYTES = 1024 * 1024;

/** The exit code of this command for a job that ended in `state`. */
function exitCodeFor(state: JobState, exitCode: number | null): number {
  switch (state) {
    case 'succeeded':
      return 0;
    case 'timed_out':
      return EXIT_TIMED_OUT;
    case 'cancelled':
      return EXIT_CANCELLED;
    default: {
      // A process exit code is one byte; a failure must not wrap around to 0.
      const code = (exitCode ?? 1) & 0xff;
      return code === 0 ? 1 : code;
    }
  }
}

/**
 * `--env A=1 --env B=x,y` (or `--matrix n=1,2`): the flag parser splits on commas, so a piece without `=` belongs
 * to the one before: the value of NAME is everything after its `=`, commas included.
 */
function parsePairs(flag: string, pieces: readonly string[]): Record<string, string> {
  const pairs: string[] = [];
  for (const piece of pieces) {
    if (piece.includes('=') || pairs.length === 0) pairs.push(piece);
    else pairs[pairs.length - 1] += `,${piece}`;
  }
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag} expects NAME=VALUE, got "${pair}"`);
    values[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return values;
}

/** `--matrix n=1,2,3 --matrix os=linux,mac`: each name's comma-separated values. */
function parseMatrix(pieces: readonly string[]): Record<string, string[]> {
  return Object.fromEntries(Object.entries(parsePairs('matrix', pieces)).map(([name, list]) => [name, list.split(',').filter(Boolean)]));
}

/** `--secret NAME`: the value comes from this shell's env, so it never sits on a command line. */
function secretsFromEnv(names: readonly string[]): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const name of names) {
    const value = process.env[name];
    if (value === undefined || value === '') throw new UsageError(`--secret ${name}: no env variable ${name} is set in this shell`);
    secrets[name] = value;
  }
  return secrets;
}

function progressLine(sent: number, total: number): string {
  const mib = (n: number) => (n / 1024 ** 2).toFixed(1);
  return `uploading ${mib(sent)} / ${mib(total)} MiB (${Math.floor((sent / total) * 100)}%)`;
}

function note(message: string): void {
  process.stderr.write(`cmdx: ${message}\n`);
}

async function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function buildSpec(flags: ReturnType<typeof parseCommandLine<typeof submitFlags>>['flags'], commands: string[]): Promise<JobSpec> {
  const { jobSpecSchema } = await import('../../../protocol/api');
  const spec: JobSpec = { commands };
  if (flags.name) spec.name = flags.name;
  if (flags.shell) spec.shell = flags.shell;
  if (flags.env?.length) spec.env = parsePairs('env', flags.env);
  if (flags.matrix?.length) spec.matrix = parseMatrix(flags.matrix);
  if (flags.timeout !== undefined) spec.timeoutSec = flags.timeout;
  if (flags.label?.length) spec.labels = flags.label;
  if (flags.priority !== undefined) spec.priority = flags.priority;
  if (flags['max-attempts'] !== undefined) spec.maxAttempts = flags['max-attempts'];
  if (flags.retries !== undefined) spec.retries = flags.retries;
  if (flags.output?.length) spec.outputs = flags.output;
  if (flags['continue-on-error']) spec.continueOnError = true;
  if (flags.network) spec.network = true;
  if (flags['require-sandbox']) spec.requireSandbox = true;
  if (flags.secret?.length) spec.secrets = secretsFromEnv(flags.secret);
  const checked = jobSpecSchema.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new UsageError(`the job is not valid: ${where}${issue.message}`);
  }
  return checked.data;
}

async function requireFile(flag: string, file: string, kind: 'file' | 'folder'): Promise<string> {
  const info = await stat(file).catch(() => null);
  if (!info || (kind === 'file' ? !info.isFile() : !info.isDirectory())) throw new UsageError(`--${flag} ${file}: no such ${kind}`);
  return path.resolve(file);
}

/** How long the CLI keeps trying to reach a coordinator that went away (a restart, a kill -9) before it gives up. */
const RECONNECT_FOR_MS = 10 * 60_000;

/** Where a person follows the job in the coordinator's web UI. */
const jobPageUrl = (server: string, jobId: string) => `${server}/#/jobs/${encodeURIComponent(jobId)}`;

/**
 * Streams the job's output here until it ends, reconnecting (without repeats) with backoff when the connection
 * drops, however it drops, for up to RECONNECT_FOR_MS of not reaching the coordinator.
 */
async function follow(client: ApiClient, jobId: string): Promise<StateEvent> {
  const [{ isTerminal }, { backoffDelay, isTransient }] = await Promise.all([import('../../../protocol/api'), import('../timing')]);
  let afterId = 0;
  let failures = 0;
  let unreachableSince = 0;
  for (;;) {
    try {
      for await (const event of client.events(jobId, { afterId })) {
        afterId = event.id;
        if (failures > 0) note('reconnected; following the job again');
        failures = 0;
        unreachableSince = 0;
        if (event.type === 'output') await write(event.data.stream === 'stdout' ? process.stdout : process.stderr, event.data.text);
        else if (event.type === 'truncated') note(event.data.message);
        else if (event.type === 'state') {
          if (event.data.state === 'queued' && event.data.attempt > 0) {
            note(
              event.data.reason === 'command_failed'
                ? `attempt ${event.data.attempt} failed (exit code ${event.data.exitCode ?? '?'}); retrying`
                : `attempt ${event.data.attempt} did not finish (its worker was lost or gave it back); the job is queued again`,
            );
          }
          if (isTerminal(event.data.state)) return event.data;
        }
      }
    } catch (err) {
      if (!isTransient(err)) throw err;
      const page = jobPageUrl(client.baseUrl, jobId);
      unreachableSince ||= Date.now();
      if (Date.now() - unreachableSince > RECONNECT_FOR_MS) {
        throw new Error(`gave up reaching the coordinator after ${RECONNECT_FOR_MS / 60_000} min (${(err as Error).message}); the job goes on: ${page}`, {
          cause: err,
        });
      }
      if (failures === 0) note(`${(err as Error).message}; reconnecting (the job goes on: ${page})`);
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(failures++, { baseMs: 250, maxMs: 5000 })));
    }
  }
}

/** How often the CLI reads a matrix group's progress (one GET of the group). */
const GROUP_POLL_MS = 1000;

/** "2 succeeded, 1 failed": a group's counts, in the lifecycle's order (`states`). */
const groupCounts = (group: JobGroup, states: readonly JobState[]) =>
  states
    .filter((state) => group.counts[state])
    .map((state) => `${group.counts[state]} ${state.replace('_', ' ')}`)
    .join(', ');

/**
 * Follows a matrix group until each of its jobs has ended: one line per job as it ends, then the summary.
 * Reconnects like `follow` when the coordinator cannot be reached.
 */
async function followGroup(client: ApiClient, group: JobGroup): Promise<JobGroup> {
  const [{ isTerminal }, { isTransient }] = await Promise.all([import('../../../protocol/api'), import('../timing')]);
  const reported = new Set<string>();
  let unreachableSince = 0;
  for (;;) {
    for (const job of group.jobs) {
      if (!isTerminal(job.state) || reported.has(job.id)) continue;
      reported.add(job.id);
      const detail = job.state === 'succeeded' ? '' : job.error ? `: ${job.error}` : job.exitCode !== null ? `: exit code ${job.exitCode}` : '';
      await write(process.stdout, `${job.state.replace('_', ' ').padEnd(9)} ${job.name}${detail}\n`);
    }
    if (group.state !== 'active') return group;
    await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
    try {
      group = await client.getGroup(group.id);
      unreachableSince = 0;
    } catch (err) {
      if (!isTransient(err)) throw err;
      unreachableSince ||= Date.now();
      if (Date.now() - unreachableSince > RECONNECT_FOR_MS) throw new Error(`gave up reaching the coordinator after ${RECONNECT_FOR_MS / 60_000} min (${(err as Error).message})`, { cause: err });
    }
  }
}

async function saveArtifacts(client: ApiClient, job: Job, file: string): Promise<void> {
  const { API_PREFIX } = await import('../../../protocol/api');
  if (!job.hasArtifacts) {
    note('the job brought back no artifacts (no file matched --output)');
    return;
  }
  const response = await client.request(`${API_PREFIX}/jobs/${encodeURIComponent(job.id)}/artifacts`);
  await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  note(`saved the artifacts to ${file}`);
}

async function main(argv: string[]): Promise<number> {
  const { flags, positionals: commands, help } = parseCommandLine(submitFlags, argv, process.env);
  if (help) {
    console.log(helpText(USAGE, submitFlags, FOOTER));
    return 0;
  }
  const servers = parseServerUrls(flags.server);
  const server = servers[0]!;
  const token = tokenFromFlags(argv, 'token', flags.token, flags['token-file'], { readText, warn: note });
  if (!token) throw new UsageError('a token is required: CMDX_TOKEN or --token-file (a submit or admin token of the pool)');
  if (commands.length === 0) throw new UsageError('give at least one command, e.g. "make test" (see --help)');
  if (flags.zip && flags.dir) throw new UsageError('give --zip or --dir, not both');
  const [{ ApiClient, ApiError }, { zipMatchingFiles }, { submitWithBundle }] = await Promise.all([
    import('../../../protocol/client'),
    import('../artifacts'),
    import('./upload'),
  ]);
  const spec = await buildSpec(flags, commands);
  if (spec.matrix && flags.artifacts) throw new UsageError('--artifacts saves one job\'s files; a --matrix run has one set per job: download them from each job\'s page');
  const zip = flags.zip ? await requireFile('zip', flags.zip, 'file') : undefined;
  const dir = flags.dir ? await requireFile('dir', flags.dir, 'folder') : undefined;
  const client = new ApiClient({ baseUrl: server, token, fetch: await fetchFor(servers, flags) });

  let submitted: Submitted | undefined;
  const upload = new AbortController();
  onInterrupt((_signal, count) => {
    if (count > 1 || !submitted) {
      upload.abort();
      process.exit(EXIT_CANCELLED);
    }
    const id = submitted.job ? submitted.job.id : submitted.group.id;
    note(`cancelling ${submitted.job ? 'job' : 'group'} ${id}`);
    (submitted.job ? client.cancelJob(id) : client.cancelGroup(id)).then(
      () => process.exit(EXIT_CANCELLED),
      (err: Error) => {
        note(`could not cancel ${id}: ${err.message}`);
        process.exit(EXIT_CANCELLED);
      },
    );
  }, ['SIGINT']);

  const temp = dir ? await mkdtemp(path.join(os.tmpdir(), 'cmdx-submit-')) : undefined;
  try {
    let bundle = zip;
    if (dir && temp) {
      bundle = path.join(temp, 'bundle.zip');
      if (!(await zipMatchingFiles(dir, ['**'], bundle))) throw new UsageError(`--dir ${dir} has no files to send`);
    }
    const showProgress = Boolean(process.stderr.isTTY) && bundle !== undefined && (await stat(bundle)).size >= PROGRESS_MIN_BYTES;
    let shownAt = 0;
    submitted = bundle
      ? await submitWithBundle(client, spec, bundle, {
          signal: upload.signal,
          ...(showProgress
            ? {
                onProgress: (sent, total) => {
                  if (sent < total && Date.now() - shownAt < 100) return;
                  shownAt = Date.now();
                  process.stderr.write(`\r${progressLine(sent, total)}${sent === total ? '\n' : ''}`);
                },
              }
            : {}),
        })
      : await client.submit(spec);
  } catch (err) {
    if (err instanceof ApiError) throw new UsageError(`could not submit the job: ${err.message}`);
    throw err;
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }

  if (submitted.group) return finishGroup(client, server, submitted.group, flags.detach === true);
  const { job } = submitted;
  if (flags.detach) {
    process.stdout.write(`${job.id}\n`);
    return 0;
  }
  if (process.stderr.isTTY) note(`job ${job.id} submitted: ${jobPageUrl(server, job.id)} (Ctrl-C cancels it)`);
  const end = await follow(client, job.id);
  if (end.state !== 'succeeded') {
    const why =
      end.error ??
      (end.exitCode !== null ? `exit code ${end.exitCode}` : end.state === 'timed_out' ? `after its ${job.spec.timeoutSec} s timeout` : end.reason);
    const what = `job ${job.id} ${end.state.replace('_', ' ')}`;
    // A reason that only repeats the state ("timed out: timed_out") says nothing more.
    note(why && why !== end.state ? `${what}: ${why}` : what);
  }
  if (flags.artifacts) await saveArtifacts(client, await client.getJob(job.id), path.resolve(flags.artifacts));
  return exitCodeFor(end.state, end.exitCode);
}

/** A matrix run: its group's id (--detach), or each job's end and a summary; exit 1 if any job did not succeed. */
async function finishGroup(client: ApiClient, server: string, submitted: JobGroup, detach: boolean): Promise<number> {
  if (detach) {
    process.stdout.write(`${submitted.id}\n`);
    return 0;
  }
  note(`${submitted.total} jobs submitted as group ${submitted.id}: ${server}/#/groups/${encodeURIComponent(submitted.id)} (Ctrl-C cancels them)`);
  const group = await followGroup(client, submitted);
  const { JOB_STATES } = await import('../../../protocol/api');
  note(`group ${group.id}: ${groupCounts(group, JOB_STATES)} of ${group.total}`);
  return group.state === 'succeeded' ? 0 : group.state === 'cancelled' ? EXIT_CANCELLED : 1;
}

runMain(main);
