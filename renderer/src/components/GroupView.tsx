import { useEffect } from 'react';
import { JOB_STATES, mayActOn, type JobGroup } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { useDocumentTitle, usePolling } from '../hooks';
import { formatAgo, formatDuration, jobStateLabel } from '../lib/format';
import { JobRow, StateBadge } from './parts';

const GROUP_STATE_LABELS: Record<JobGroup['state'], string> = {
  active: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};
const GROUP_STATE_BADGES: Record<JobGroup['state'], string> = { active: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' };

/** A matrix submission: its summary (jobs per state, like a CI run's matrix) and its jobs, each one click away. */
export function GroupView({ groupId }: { groupId: string }) {
  const loadGroup = useAppStore((s) => s.loadGroup);
  const loaded = useAppStore((s) => s.group);
  const error = useAppStore((s) => s.groupError);
  const cancelGroup = useAppStore((s) => s.cancelGroup);
  const group = loaded?.id === groupId ? loaded : null;
  const mine = useAppStore((s) => s.caller !== null && group !== null && mayActOn(s.caller, group));
  usePolling(() => loadGroup(groupId));
  useEffect(() => () => useAppStore.getState().resetPool(), []);
  useDocumentTitle(group ? `${GROUP_STATE_LABELS[group.state]} · ${group.name} · cmd-executor` : null);

  return (
    <section className="list-view" aria-labelledby="group-title">
      <div className="list-head">
        <h1 id="group-title">{group ? group.name : `Group ${groupId}`}</h1>
        {group && (
          <span className={`badge state-${GROUP_STATE_BADGES[group.state]}`} data-testid="group-state">
            {GROUP_STATE_LABELS[group.state]}
          </span>
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {group && (
        <>
          <p className="job-facts">
            <span>id {group.id}</span>
            <span>
              matrix{' '}
              {Object.entries(group.matrix)
                .map(([name, values]) => `${name} = ${values.join(', ')}`)
                .join(' × ')}
            </span>
            <span>
              submitted by {group.submittedBy}, {formatAgo(group.createdAt, Date.now())}
            </span>
          </p>
          <GroupSummary group={group} />
          <div className="actions">
            {mine && group.state === 'active' && (
              <button type="button" className="danger" onClick={() => void cancelGroup()}>
                Cancel all
              </button>
            )}
          </div>
          <GroupJobs group={group} />
        </>
      )}
    </section>
  );
}

/** One bar, a segment per state, and the counts in words: "2 succeeded, 1 failed of 3". */
function GroupSummary({ group }: { group: JobGroup }) {
  const states = JOB_STATES.filter((state) => group.counts[state]);
  return (
    <div className="group-summary" data-testid="group-summary">
      <div className="group-bar" aria-hidden="true">
        {states.map((state) => (
          <span key={state} className={`segment state-${state}`} style={{ flexGrow: group.counts[state] }} />
        ))}
      </div>
      <p>
        {states.map((state) => `${group.counts[state]} ${jobStateLabel(state)}`).join(', ')} of {group.total}
      </p>
    </div>
  );
}

function GroupJobs({ group }: { group: JobGroup }) {
  const names = Object.keys(group.matrix);
  return (
    <div className="table-wrap">
      <table aria-label="Jobs of the group">
        <thead>
          <tr>
            {names.map((name) => (
              <th key={name} scope="col">
                {name}
              </th>
            ))}
            <th scope="col">State</th>
            <th scope="col">Worker</th>
            <th scope="col">Duration</th>
            <th scope="col">Exit</th>
          </tr>
        </thead>
        <tbody>
          {group.jobs.map((job) => {
            const took = job.startedAt ? Date.parse(job.finishedAt ?? new Date().toISOString()) - Date.parse(job.startedAt) : null;
            const [first, ...rest] = names.map((name) => job.spec.matrix?.[name] ?? '–');
            return (
              <JobRow key={job.id} jobId={job.id} label={first ?? '–'} title={job.name}>
                {rest.map((value, i) => (
                  <td key={names[i + 1]}>{value}</td>
                ))}
                <td>
                  <StateBadge state={job.state} />
                </td>
                <td>{job.workerName ?? '–'}</td>
                <td>{took === null ? '–' : formatDuration(took)}</td>
                <td>{job.exitCode ?? '–'}</td>
              </JobRow>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
