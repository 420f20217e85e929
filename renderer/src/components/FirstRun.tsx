// The desktop app's first screen until it has a pool: join one found on the network (with an enrollment code),
// open an invite link, or host the pool on this PC.
import { useState, type FormEvent } from 'react';
import type { DiscoveredPool } from '../../../protocol/pool-record';
import { useAppStore } from '../app-store';
import { LanPools } from './LanPools';

export function FirstRun() {
  const saveSettings = useAppStore((s) => s.saveSettings);
  const openInvite = useAppStore((s) => s.openInvite);
  const [chosen, setChosen] = useState<DiscoveredPool | null>(null);
  const [code, setCode] = useState('');
  const [link, setLink] = useState('');

  const join = (event: FormEvent) => {
    event.preventDefault();
    if (!chosen?.fingerprint || !code.trim()) return;
    // The main process asks the owner to confirm the new address and certificate natively before saving.
    void saveSettings({ hostPool: false, coordinatorUrls: [chosen.url], coordinatorFingerprint: chosen.fingerprint, joinToken: code.trim() });
  };
  const open = (event: FormEvent) => {
    event.preventDefault();
    if (link.trim()) void openInvite(link.trim());
  };

  return (
    <section className="card first-run" aria-labelledby="first-run-title">
      <h1 id="first-run-title">Join your office’s pool</h1>
      <LanPools onChoose={setChosen} chosenUrl={chosen?.url} />
      {chosen && (
        <form onSubmit={join} aria-label={`Join ${chosen.name}`}>
          <label htmlFor="first-run-code">Enrollment code for “{chosen.name}” (from its admin: Workers → Invite a worker)</label>
          <input id="first-run-code" type="password" autoComplete="off" spellCheck={false} value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit" className="primary" disabled={!code.trim()}>
            Join
          </button>
        </form>
      )}
      <form onSubmit={open} aria-label="Open an invite link">
        <label htmlFor="first-run-link">Or paste an invite link (cmdx://join?…)</label>
        <input id="first-run-link" autoComplete="off" spellCheck={false} value={link} onChange={(e) => setLink(e.target.value)} />
        <button type="submit" disabled={!link.trim()}>
          Open
        </button>
      </form>
      <p className="hint">
        No pool yet? <button type="button" className="quiet" onClick={() => void saveSettings({ hostPool: true })}>Host the pool on this PC</button> or{' '}
        <a href="#/settings">enter an address in Settings</a>.
      </p>
    </section>
  );
}
