import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { useAppStore } from './app-store';
import { App } from './components/App';
import { takeTokenFromHash } from './lib/route';

// A sign-in link carries the token in the hash: take it, then drop it from the address bar and history.
const { token, hash } = takeTokenFromHash(window.location.hash);
if (token) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}${hash}`);
void useAppStore.getState().resumeSession(token);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
