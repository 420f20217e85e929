import { useEffect, useState } from 'react';
import { isTerminal, mayActOn, type Job } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { useDocumentTitle, useFavicon, useNow, usePolling } from '../hooks';
import { submitCommandLine } from '../lib/cli-command';
import { formatAgo, formatDuration, jobStateLabel, stateFavicon } from '../lib/format';
import { routeHash } from '../lib/route';
import type { StreamStatus } from '../store/job-view';
import { JobTerminal } from './JobTerminal';
import { FactList } from './parts';

export function JobView({ jobId }: { jobId: string }) {
  const openJob = useAppStore((s) => s.openJob);
  const closeJob = useAppStore((s) => s.closeJob);
  const viewError = useAppStore((s) => s.viewError);
  const job = useAppStore((s) => s.viewedJob);
  // The tab says how the job is doing, so a person can watch it from another tab.
  useDocumentTitle(job?.id === jobId ? `${jobStateLabel(job.state)} · ${job.name} · cmd-executor` : null);
  useFavicon(job?.id === jobId ? stateFavicon(job.state) : null);

  useEffect(() => {
    openJob(jobId);
    return () => closeJob();
  }, [jobId, openJob, closeJob]);

  return (
    <section className="job-view" aria-label="Job">
      <JobHeader />
      {viewError && (
        <p className="error" role="alert">
          {viewError}
        </p>
      )}
      <JobTerminal key={jobId} jobId={jobId} />
    </section>
  );
}

function JobHeader() {
  const job = useAppStore((s) => s.viewedJob);
  const jobId = useAppStore((s) => s.viewedJobId);
  const streamStatus = useAppStore((s) => s.streamStatus);
  const actionError = useAppStore((s) => s.actionError);
  if (!job) {
    return (
      <header className="job-header">
        <h1>Job {jobId}</h1>
        <StreamBadge status={streamStatus} />
      </header>
    );
  }
  return (
    <header className="job-header">
      <div className="job-title">
        <h1 title={job.name}>{job.name}</h1>
        <span className={`badge state-${job.state}`} data-testid="job-state">
          {jobStateLabel(job.state)}
        </span>
        <StreamBadge status={streamStatus} />
      </div>
      <p className="job-facts">
        <span>id {job.id}</span>
        {job.groupId && (
          <span>
            one job of <a href={routeHash({ view: 'group', groupId: job.groupId })}>its matrix group</a>
          </span>
        )}
        {job.workerName && <span>worker {job.workerName}</span>}
        {job.attempt > 1 && <span>attempt {job.attempt}</span>}
        {job.exitCode !== null && <span>exit code {job.exitCode}</span>}
        <Elapsed job={job} />
        {job.cancelRequested && !isTerminal(job.state) && <span>cancelling…</span>}
        {job.spec.network && <span>needs network</span>}
        {job.spec.requireSandbox && <span>needs a sandboxed worker</span>}
      </p>
      {job.state === 'queued' && <WaitingReason reason={job.waitingReason} />}
      <JobSpecFacts job={job} />
      <Attempts job={job} />
      <JobActions job={job} />
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}
    </header>
  );
}

function WaitingReason({ reason }: { reason: string | null }) {
  const refreshWaitingReason = useAppStore((s) => s.refreshWaitingReason);
  usePolling(refreshWaitingReason);
  if (!reason) return null;
  return (
    <p className="waiting" data-testid="waiting-reason" role="status">
      Waiting: {reason}
    </p>
  );
}

/** What was asked for: the spec beyond its commands (which the terminal shows), and who asked. */
function JobSpecFacts({ job }: { job: Job }) {
  const { spec } = job;
  const envNames = Object.keys(spec.env);
  const facts: [string, string][] = [
    ['Labels', spec.labels.join(', ') || 'none'],
    ['Timeout', formatDuration(spec.timeoutSec * 1000)],
    ['Priority', String(spec.priority)],
    ...(spec.retries ? [['Retries', `up to ${spec.retries} after a failed command`] as [string, string]] : []),
    ['Outputs', spec.outputs.join(', ') || 'none'],
    ...(envNames.length ? [['Env', envNames.join(', ')] as [string, string]] : []),
    ['Submitted by', `${job.submittedBy}, ${formatAgo(job.createdAt, Date.now())}`],
  ];
  return <FactList label="Job spec" facts={facts} />;
}

function Elapsed({ job }: { job: Job }) {
  const running = job.startedAt !== null && job.finishedAt === null;
  const now = useNow(running);
  if (!job.startedAt) return null;
  if (job.finishedAt) return <span>took {formatDuration(Date.parse(job.finishedAt) - Date.parse(job.startedAt))}</span>;
  return <span data-testid="elapsed">running for {formatDuration(Math.max(0, now - Date.parse(job.startedAt))).replace(/\.\d/, '')}</span>;
}

/** Each lease the job was given: on which worker, when, and how it ended (lost workers show here). */
function Attempts({ job }: { job: Job }) {
  if (job.attempts.length < 2) return null;
  const time = (iso: string) => new Date(iso).toLocaleTimeString();
  return (
    <ol className="attempts" aria-label="Attempts">
      {job.attempts.map((a) => (
        <li key={a.leaseId}>
          attempt {a.attempt} on {a.workerName}, {time(a.leasedAt)}
          {a.endedAt ? `–${time(a.endedAt)}` : ''}: {a.outcome}
        </li>
      ))}
    </ol>
  );
}

const STREAM_LABELS: Record<StreamStatus, string> = {
  idle: '',
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: '',
};

function StreamBadge({ status }: { status: StreamStatus }) {
  const label = STREAM_LABELS[status];
  if (!label) return null;
  return (
    <span className={`stream stream-${status}`} role="status">
      {label}
    </span>
  );
}

function JobActions({ job }: { job: Job }) {
  const cancelViewedJob = useAppStore((s) => s.cancelViewedJob);
  const rerunViewedJob = useAppStore((s) => s.rerunViewedJob);
  const prefillFromJob = useAppStore((s) => s.prefillFromJob);
  const downloadFromJob = useAppStore((s) => s.downloadFromJob);
  // Cancel, re-run and artifacts are the owner's and admins' (others would get a 403).
  const mine = useAppStore((s) => s.caller !== null && mayActOn(s.caller, job));

  return (
    <div className="actions">
      {mine && !isTerminal(job.state) && (
        <button type="button" className="danger" disabled={job.cancelRequested} onClick={() => void cancelViewedJob()}>
          Cancel
        </button>
      )}
      {mine && (
      <button
        type="button"
        onClick={() =>
          void rerunViewedJob().then((id) => {
            if (id) window.location.hash = routeHash({ view: 'job', jobId: id });
          })
        }
      >
        Re-run
      </button>
      )}
      <button
        type="button"
        onClick={() => {
          prefillFromJob(job);
          window.location.hash = routeHash({ view: 'submit' });
        }}
      >
        Edit and re-run…
      </button>
      <button type="button" onClick={() => void downloadFromJob('log')}>
        Download log
      </button>
      <CopyAsCommand job={job} />
      {mine && job.hasArtifacts && (
        <button type="button" onClick={() => void downloadFromJob('artifacts')}>
          Download artifacts
        </button>
      )}
    </div>
  );
}

function CopyAsCommand({ job }: { job: Job }) {
  const baseUrl = useAppStore((s) => s.baseUrl);
  const isDesktop = useAppStore((s) => s.isDesktop);
  const copyText = useAppStore((s) => s.copyText);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    const line = submitCommandLine(baseUrl, job.spec);
    if (isDesktop) await copyText(line);
    else await navigator.clipboard.writeText(line);
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <button type="button" title="The submit command line for the same job (the token comes from $CMDX_TOKEN)" onClick={() => void copy()}>
      {copied ? 'Copied' : 'Copy as CLI command'}
    </button>
  );
}
