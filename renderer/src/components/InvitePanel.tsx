// Admins invite a worker: one click makes an enrollment code (one use, an hour) and shows the command to paste
// on the new machine, and over HTTPS the invite link for the desktop app with its QR code. The code is shown here
// once; it is not kept.
import { useState } from 'react';
import type { CreatedInvite } from '../../../protocol/api';
import { useAppStore } from '../app-store';
import { QrCode } from './QrCode';

export function InvitePanel() {
  const isAdmin = useAppStore((s) => s.caller?.role === 'admin');
  const client = useAppStore((s) => s.client);
  const failureMessage = useAppStore((s) => s.failureMessage);
  const [invite, setInvite] = useState<CreatedInvite | null>(null);
  const [error, setError] = useState<string | null>(null);

  const create = async () => {
    if (!client) return;
    try {
      setInvite(await client.createInvite({ uses: 1, expiresInSec: 3600 }));
      setError(null);
    } catch (err) {
      setError(failureMessage(err));
    }
  };

  // Only admins may invite: members do not get a button that answers 403.
  if (!isAdmin) return null;
  return (
    <div className="invite-panel" aria-label="Invite a worker" role="region">
      <button type="button" onClick={() => void create()}>
        Invite a worker
      </button>
      {invite && (
        <div data-testid="invite">
          <p>
            Enrollment code for one worker, valid until {new Date(invite.expiresAt ?? '').toLocaleString()}. On the new machine, run:
          </p>
          <code aria-label="Command to run on the new worker">{invite.command}</code>
          {invite.fingerprint && <p className="hint">Certificate SHA-256: {invite.fingerprint}</p>}
          {invite.link && (
            <div className="invite-link">
              <QrCode text={invite.link} label="QR code of the invite link" />
              <p>
                Or, on a PC with the desktop app, open the invite link (it asks before joining):{' '}
                <code aria-label="Invite link">{invite.link}</code>
              </p>
              {invite.page && (
                <p className="hint">
                  To send it: <a href={invite.page} target="_blank" rel="noreferrer">{invite.page}</a> shows the link and this code while the invite lasts.
                </p>
              )}
            </div>
          )}
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** An admin's controls of a worker (pause, resume, drain, remove), shown to admins only; `onDone` re-reads what
 * shows it (the list by default). */
export function WorkerActions({ workerId, name, adminState, onDone }: { workerId: string; name: string; adminState: string; onDone?: () => Promise<void> }) {
  const isAdmin = useAppStore((s) => s.caller?.role === 'admin');
  const client = useAppStore((s) => s.client);
  const refreshWorkers = useAppStore((s) => s.refreshWorkers);
  const failureMessage = useAppStore((s) => s.failureMessage);
  const [error, setError] = useState<string | null>(null);
  const act = async (call: () => Promise<unknown>) => {
    try {
      await call();
      setError(null);
      await (onDone ?? refreshWorkers)();
    } catch (err) {
      setError(failureMessage(err));
    }
  };
  if (!client || !isAdmin) return null;
  return (
    <div className="worker-actions">
      {adminState === 'active' ? (
        <button type="button" aria-label={`Pause ${name}`} onClick={() => void act(() => client.setWorkerState(workerId, 'pause'))}>
          Pause
        </button>
      ) : (
        <button type="button" aria-label={`Resume ${name}`} onClick={() => void act(() => client.setWorkerState(workerId, 'resume'))}>
          Resume
        </button>
      )}
      <button type="button" aria-label={`Drain ${name}`} onClick={() => void act(() => client.setWorkerState(workerId, 'drain'))}>
        Drain
      </button>
      <button type="button" aria-label={`Remove ${name}`} onClick={() => void act(() => client.deregisterWorker(workerId))}>
        Remove
      </button>
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
