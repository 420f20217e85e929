import type { UsageWindow } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { usePolling } from '../hooks';
import { formatDuration } from '../lib/format';

const HOUR_MS = 3600_000;

/** Usage changes slowly: read once a minute, not on every list refresh. */
const USAGE_REFRESH_MS = 60_000;

/** CPU-hours per PC (contributed) and per person (used) over a day or a week, as bars to look at. */
export function UsagePanel() {
  const usage = useAppStore((s) => s.usage);
  const window = useAppStore((s) => s.usageWindow);
  const error = useAppStore((s) => s.usageError);
  const loadUsage = useAppStore((s) => s.loadUsage);
  usePolling(() => loadUsage(), USAGE_REFRESH_MS);
  return (
    <section className="card usage" aria-labelledby="usage-title">
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
