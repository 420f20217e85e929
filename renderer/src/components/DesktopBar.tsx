import { useAppStore } from '../app-store';

/** The tray's switch and state, repeated in the window (desktop only). */
export function DesktopBar() {
  const status = useAppStore((s) => s.desktopStatus);
  const setContribution = useAppStore((s) => s.setContribution);
  const pauseContribution = useAppStore((s) => s.pauseContribution);
  const openLogs = useAppStore((s) => s.openLogs);
  if (!status) return null;
  const { contribution } = status;
  const paused = contribution.pausedUntil !== null;
  return (
    <div className="desktop-bar">
      <label className="switch">
        <input
          type="checkbox"
          checked={contribution.enabled}
          onChange={(event) => void setContribution(event.target.checked)}
        />{' '}
        Contribute when idle
      </label>
      <span className="hint" title={contribution.reason}>
        {paused ? `paused until ${new Date(contribution.pausedUntil as string).toLocaleTimeString()}` : contribution.reason}
      </span>
      <button type="button" className="quiet" onClick={() => void pauseContribution(paused ? 0 : 60)}>
        {paused ? 'Resume' : 'Pause 1 h'}
      </button>
      <button type="button" className="quiet" onClick={() => void openLogs()}>
        Open logs
      </button>
    </div>
  );
}

/** What the desktop app needs the user to know: no coordinator configured, a reset settings file, a failed call. */
export function DesktopNotice() {
  const problem = useAppStore((s) => s.desktopStatus?.connection.problem ?? null);
  const workerProblem = useAppStore((s) => s.desktopStatus?.agent.problem ?? null);
  const notice = useAppStore((s) => s.desktopStatus?.notice ?? null);
  const desktopError = useAppStore((s) => s.desktopError);
  const message = problem ?? desktopError ?? (workerProblem ? `This PC takes no jobs: ${workerProblem}` : null) ?? notice;
  if (!message) return null;
  return (
    <p className={problem || desktopError || workerProblem ? 'banner error' : 'banner'} role="alert">
      {message}
      {problem && (
        <>
          {' '}
          <a href="#/settings">Open settings</a>
        </>
      )}
    </p>
  );
}
