import { useAppStore } from '../app-store';

/** While this PC hosts the pool: what colleagues enter to join it (desktop only). */
export function PoolInfoPanel() {
  const pool = useAppStore((s) => s.desktopStatus?.pool ?? null);
  const copyText = useAppStore((s) => s.copyText);
  if (!pool) return null;
  const rows: [string, string][] = [
    ...pool.urls.map((url, i): [string, string] => [pool.urls.length > 1 ? `Address ${i + 1}` : 'Address', url]),
    ['Join token (workers)', pool.joinToken],
    ['Submit token (colleagues)', pool.submitToken],
    ...(pool.fingerprint ? [['Certificate SHA-256 (to pin)', pool.fingerprint] as [string, string]] : []),
  ];
  return (
    <section className="card pool-info" aria-labelledby="pool-info-title">
      <h2 id="pool-info-title">This PC hosts the pool</h2>
      <dl>
        {rows.map(([label, value]) => (
          <div key={label} className="pool-row">
            <dt>{label}</dt>
            <dd>
              <code>{value}</code>
              <button type="button" className="quiet" aria-label={`Copy ${label.toLowerCase()}`} onClick={() => void copyText(value)}>
                Copy
              </button>
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
