import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { useAppStore } from './app-store';
import { App } from './components/App';
import { takeTokenFromHash } from './lib/route';
import { ApiClient } from '../../protocol/client';

// The coordinator's sign-in link carries a one-time code in the hash (hashes never reach servers or logs): take
// it, drop it from the address bar and history, and exchange it for a session token. A `#token=` link still works.
const { token: code, hash: afterCode } = takeTokenFromHash(window.location.hash, 'code');
const { token, hash } = takeTokenFromHash(afterCode);
if (code || token) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}${hash}`);
void (async () => {
  const session = code ? await new ApiClient({ baseUrl: window.location.origin }).signIn(code).catch(() => null) : null;
  await useAppStore.getState().resumeSession(session?.token ?? token);
})();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
