// The audit log (admins): who did what, when and from where; filter by actor and action, older pages on demand.
import { useCallback, useEffect, useState } from 'react';
import type { AuditEntry } from '../../../protocol/api';
import { useAppStore } from '../app-store';

export function AuditView() {
  const client = useAppStore((s) => s.client);
  const failureMessage = useAppStore((s) => s.failureMessage);
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (after: string | null) => {
      if (!client) return;
      try {
        const page = await client.listAudit({ actor, action, ...(after ? { cursor: after } : {}) });
        setEntries((shown) => (after ? [...shown, ...page.entries] : page.entries));
        setCursor(page.nextCursor);
        setError(null);
      } catch (err) {
        setError(failureMessage(err));
      }
    },
    [client, actor, action, failureMessage],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  return (
    <section className="list-view" aria-labelledby="audit-title">
      <div className="list-head">
        <h1 id="audit-title">Audit</h1>
        <div className="audit-filters">
          <label>
            Actor <input value={actor} onChange={(e) => setActor(e.target.value)} placeholder="alice" />
          </label>
          <label>
            Action <input value={action} onChange={(e) => setAction(e.target.value)} placeholder="job.submit" />
          </label>
        </div>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="table-wrap">
        <table aria-label="Audit log">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.id} data-action={entry.action}>
                <td title={entry.at}>{new Date(entry.at).toLocaleString()}</td>
                <td>{entry.actor}</td>
                <td>{entry.action}</td>
                <td>{entry.target ?? '–'}</td>
                <td>{entry.ip ?? '–'}</td>
              </tr>
            ))}
            {entries.length === 0 && !error && (
              <tr>
                <td colSpan={5} className="empty">
                  Nothing recorded{actor || action ? ' for this filter' : ''}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {cursor && (
        <button type="button" onClick={() => void load(cursor)}>
          Older
        </button>
      )}
    </section>
  );
}
