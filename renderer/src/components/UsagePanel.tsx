import type { PoolActivity, UsageWindow } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatDuration } from '../lib/format';

const HOUR_MS = 3600_000;

/** Usage changes slowly: read once a minute, not on every list refresh. */
const USAGE_REFRESH_MS = 60_000;

/** The pool's recent load as a chart, and CPU-hours per PC (contributed) and per person (used) as bars. */
export function UsagePanel() {
  const usage = useAppStore((s) => s.usage);
  const window = useAppStore((s) => s.usageWindow);
  const error = useAppStore((s) => s.usageError);
  const loadUsage = useAppStore((s) => s.loadUsage);
  const activity = useAppStore((s) => s.activity);
  usePolling(() => loadUsage(), USAGE_REFRESH_MS);
  return (
    <section className="card usage" aria-labelledby="usage-title">
      {activity && <ActivityChart activity={activity} />}
      <div className="list-head">
        <h2 id="usage-title">CPU-hours</h2>
        <label className="filters">
          over the last{' '}
          <select value={window} onChange={(event) => void loadUsage(event.target.value as UsageWindow)}>
            <option value="day">day</option>
            <option value="week">week</option>
          </select>
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {usage && (
        <div className="usage-tables">
          <UsageBars title="Contributed per PC" rows={usage.byWorker.map((w) => ({ key: w.workerId, name: w.name, hours: w.cpuHours, jobs: w.jobs }))} />
          <UsageBars title="Used per person" rows={usage.byPerson.map((p) => ({ key: p.name, name: p.name, hours: p.cpuHours, jobs: p.jobs }))} />
        </div>
      )}
    </section>
  );
}

function UsageBars({ title, rows }: { title: string; rows: { key: string; name: string; hours: number; jobs: number }[] }) {
  const most = Math.max(...rows.map((row) => row.hours), 0);
  return (
    <table aria-label={title} className="usage-bars">
      <caption>{title}</caption>
      <tbody>
        {rows.map((row) => (
          <tr key={row.key}>
            <th scope="row">{row.name}</th>
            <td className="bar-cell">
              <span className="bar" style={{ width: `${most > 0 ? Math.max(1, (row.hours / most) * 100) : 0}%` }} />
            </td>
            <td className="number" title={`${row.hours} CPU-hours`}>
              {formatDuration(row.hours * HOUR_MS)}
            </td>
            <td className="number">
              {row.jobs} job{row.jobs === 1 ? '' : 's'}
            </td>
          </tr>
        ))}
        {rows.length === 0 && (
          <tr>
            <td colSpan={4} className="empty">
              No job ran in this time.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

const CHART = { width: 600, height: 70 };

/** Queued and running jobs at each step of the last hours, as two lines over one scale. */
function ActivityChart({ activity }: { activity: PoolActivity }) {
  const { points } = activity;
  const peak = Math.max(0, ...points.map((p) => Math.max(p.queued, p.running)));
  // A pool with nothing to show draws two flat lines at the bottom.
  const most = Math.max(1, peak);
  const line = (key: 'queued' | 'running') =>
    points
      .map((p, i) => `${((i / Math.max(1, points.length - 1)) * CHART.width).toFixed(1)},${(CHART.height - (p[key] / most) * CHART.height).toFixed(1)}`)
      .join(' ');
  const hours = Math.round((points.length - 1) * activity.stepMs / HOUR_MS);
  const now = points.at(-1);
  return (
    <figure className="activity" aria-labelledby="activity-title">
      <figcaption id="activity-title">
        Jobs over the last {hours} hours: <span className="queued">queued</span> and <span className="running">running</span>
        {now ? ` (now ${now.queued} queued, ${now.running} running; peak ${peak})` : ''}
      </figcaption>
      <svg viewBox={`0 0 ${CHART.width} ${CHART.height}`} preserveAspectRatio="none" role="img" aria-label="Queued and running jobs over time">
        <polyline className="queued" points={line('queued')} />
        <polyline className="running" points={line('running')} />
      </svg>
    </figure>
  );
}
