import { JOB_STATES } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatAgo, formatDuration, jobStateLabel } from '../lib/format';
import { routeHash } from '../lib/route';
import type { StateFilter } from '../store/jobs';

const FILTERS: { value: StateFilter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'active', label: 'Active' },
  { value: 'finished', label: 'Finished' },
  ...JOB_STATES.map((state) => ({ value: state, label: jobStateLabel(state) })),
];

export function JobsView() {
  const refreshJobs = useAppStore((s) => s.refreshJobs);
  usePolling(refreshJobs);
  return (
    <section className="list-view" aria-labelledby="jobs-title">
      <div className="list-head">
        <h1 id="jobs-title">Jobs</h1>
        <JobsFilterBar />
      </div>
      <JobsTable />
    </section>
  );
}

function JobsFilterBar() {
  const filter = useAppStore((s) => s.jobsFilter);
  const setJobsFilter = useAppStore((s) => s.setJobsFilter);
  return (
    <div className="filters">
      <label>
        State{' '}
        <select value={filter.state} onChange={(event) => void setJobsFilter({ state: event.target.value as StateFilter })}>
          {FILTERS.map(({ value, label }) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={filter.mine} onChange={(event) => void setJobsFilter({ mine: event.target.checked })} />{' '}
        Only mine
      </label>
    </div>
  );
}

function JobsTable() {
  const jobs = useAppStore((s) => s.jobs);
  const cursor = useAppStore((s) => s.jobsCursor);
  const loading = useAppStore((s) => s.jobsLoading);
  const error = useAppStore((s) => s.jobsError);
  const refreshedAt = useAppStore((s) => s.jobsRefreshedAt);
  const loadMoreJobs = useAppStore((s) => s.loadMoreJobs);
  const now = refreshedAt ?? Date.now();
  return (
    <div className="table-wrap">
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table aria-label="Jobs">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Worker</th>
            <th scope="col">Submitted</th>
            <th scope="col">Duration</th>
            <th scope="col">Exit</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id}>
              <td className="name-cell">
                <a href={routeHash({ view: 'job', jobId: job.id })} title={job.name}>
                  {job.name}
                </a>
              </td>
              <td>
                <span className={`badge state-${job.state}`}>{jobStateLabel(job.state)}</span>
              </td>
              <td>{job.workerName ?? '–'}</td>
              <td title={job.createdAt}>{formatAgo(job.createdAt, now)}</td>
              <td>
                {job.startedAt ? formatDuration(Date.parse(job.finishedAt ?? new Date(now).toISOString()) - Date.parse(job.startedAt)) : '–'}
              </td>
              <td>{job.exitCode ?? '–'}</td>
            </tr>
          ))}
          {jobs.length === 0 && !loading && (
            <tr>
              <td colSpan={6} className="empty">
                No jobs here yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {cursor && (
        <button type="button" onClick={() => void loadMoreJobs()} disabled={loading}>
          Load more
        </button>
      )}
    </div>
  );
}
