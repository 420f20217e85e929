import { useEffect } from 'react';
import { useAppStore } from '../app-store';
import { desktopBridge } from '../desktop';
import { useRoute } from '../hooks';
import { routeHash } from '../lib/route';
import { AuditView } from './AuditView';
import { DesktopBar, DesktopNotice } from './DesktopBar';
import { FirstRun } from './FirstRun';
import { GroupView } from './GroupView';
import { JobsView } from './JobsView';
import { JobView } from './JobView';
import { SettingsView } from './SettingsView';
import { SignIn } from './SignIn';
import { SubmitView } from './SubmitView';
import { WorkersView } from './WorkersView';
import { WorkerView } from './WorkerView';

export function App() {
  const signInState = useAppStore((s) => s.signInState);
  const isDesktop = useAppStore((s) => s.isDesktop);
  const isAdmin = useAppStore((s) => s.caller?.role === 'admin');
  const route = useRoute();
  // Until the desktop app has a pool, its first screen offers one (Settings stays reachable).
  const needsPool = useAppStore((s) => s.settings !== null && !s.settings.hostPool && s.settings.coordinatorUrls.length === 0);
  const firstRun = isDesktop && needsPool && route.view !== 'settings';

  useEffect(() => {
    const bridge = desktopBridge();
    if (!bridge) return;
    let unsubscribeStatus: (() => void) | null = null;
    let cancelled = false;
    void useAppStore
      .getState()
      .connectDesktop()
      .then((unsubscribe) => {
        if (cancelled) unsubscribe();
        else unsubscribeStatus = unsubscribe;
      });
    // A click on a "job finished" notification opens that job.
    const unsubscribeOpen = bridge.onOpenJob((jobId) => {
      window.location.hash = routeHash({ view: 'job', jobId });
    });
    const unsubscribeOpenGroup = bridge.onOpenGroup((groupId) => {
      window.location.hash = routeHash({ view: 'group', groupId });
    });
    return () => {
      cancelled = true;
      unsubscribeStatus?.();
      unsubscribeOpen();
      unsubscribeOpenGroup();
    };
  }, []);

  const signedIn = signInState === 'signed_in';
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">cmd-executor</span>
        {signedIn && (
          <nav aria-label="Views">
            <NavLink hash="#/" active={route.view === 'submit'}>
              Submit
            </NavLink>
            <NavLink hash="#/jobs" active={route.view === 'jobs' || route.view === 'job' || route.view === 'group'}>
              Jobs
            </NavLink>
            <NavLink hash="#/workers" active={route.view === 'workers' || route.view === 'worker'}>
              Workers
            </NavLink>
            {isAdmin && (
              <NavLink hash="#/audit" active={route.view === 'audit'}>
                Audit
              </NavLink>
            )}
            {isDesktop && (
              <NavLink hash="#/settings" active={route.view === 'settings'}>
                Settings
              </NavLink>
            )}
          </nav>
        )}
        <div className="topbar-end">{isDesktop ? <DesktopBar /> : signedIn && <SignOutButton />}</div>
      </header>
      {isDesktop && <DesktopNotice />}
      <main className="content">
        {!signedIn && <SignIn />}
        {signedIn && firstRun && <FirstRun />}
        {signedIn && !firstRun && route.view === 'submit' && <SubmitView />}
        {signedIn && !firstRun && route.view === 'jobs' && <JobsView />}
        {signedIn && !firstRun && route.view === 'job' && <JobView jobId={route.jobId} />}
        {signedIn && !firstRun && route.view === 'group' && <GroupView groupId={route.groupId} />}
        {signedIn && !firstRun && route.view === 'workers' && <WorkersView />}
        {signedIn && !firstRun && route.view === 'worker' && <WorkerView workerId={route.workerId} />}
        {signedIn && !firstRun && route.view === 'audit' && <AuditView />}
        {signedIn && route.view === 'settings' && isDesktop && <SettingsView />}
      </main>
    </div>
  );
}

function NavLink({ hash, active, children }: { hash: string; active: boolean; children: string }) {
  return (
    <a href={hash} className={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
      {children}
    </a>
  );
}

function SignOutButton() {
  const signOut = useAppStore((s) => s.signOut);
  return (
    <button type="button" className="quiet" onClick={() => signOut()}>
      Sign out
    </button>
  );
}
