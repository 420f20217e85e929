// The pools announced on this network (desktop only: the main process listens for them). Choosing one fills in its
// address and certificate; joining still takes an enrollment code from its admin.
import { useEffect } from 'react';
import type { DiscoveredPool } from '../../../protocol/pool-record';
import { useAppStore } from '../app-store';

export function LanPools({ onChoose, chosenUrl }: { onChoose: (pool: DiscoveredPool) => void; chosenUrl?: string }) {
  const pools = useAppStore((s) => s.lanPools);
  const searching = useAppStore((s) => s.searchingPools);
  const discoverPools = useAppStore((s) => s.discoverPools);
  useEffect(() => {
    if (useAppStore.getState().lanPools === null) void discoverPools();
  }, [discoverPools]);

  return (
    <div className="lan-pools" role="region" aria-label="Pools on this network">
      <div className="lan-pools-head">
        <strong>Pools on this network</strong>
        <button type="button" className="quiet" disabled={searching} onClick={() => void discoverPools()}>
          {searching ? 'Looking…' : 'Look again'}
        </button>
      </div>
      {pools !== null && pools.length === 0 && !searching && (
        <p className="hint">None answered. A pool on another subnet, or started with --no-advertise, is not listed: enter its address.</p>
      )}
      <ul>
        {(pools ?? []).map((pool) => (
          <li key={pool.url} className={pool.url === chosenUrl ? 'chosen' : undefined}>
            <span>
              <strong>{pool.name}</strong> <span className="hint">{pool.url} · v{pool.version}</span>
              <br />
              <span className="hint fingerprint">{pool.fingerprint ? `certificate ${pool.fingerprint}` : 'plain HTTP: not safe across the network'}</span>
            </span>
            <button type="button" disabled={!pool.fingerprint} onClick={() => onChoose(pool)} aria-label={`Use ${pool.name}`}>
              Use
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
