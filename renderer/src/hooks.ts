// Small React hooks over browser state the store does not own.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { parseRoute, type Route } from './lib/route';

function subscribeToHash(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribeToHash, () => window.location.hash);
  return parseRoute(hash);
}

/** Live views: the jobs list and workers change without events of their own, so they are re-read on an interval. */
export const LIVE_REFRESH_MS = 2000;

/** Runs `refresh` now and every `intervalMs` while mounted, never two at a time. */
export function usePolling(refresh: () => Promise<void>, intervalMs = LIVE_REFRESH_MS): void {
  const latest = useRef(refresh);
  useEffect(() => {
    latest.current = refresh;
  });
  useEffect(() => {
    let running = false;
    const tick = () => {
      if (running) return;
      running = true;
      void latest.current().finally(() => {
        running = false;
      });
    };
    tick();
    const timer = setInterval(tick, intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
}

/** The time now, re-read every `intervalMs` while `ticking` (an elapsed-time display that counts up). */
export function useNow(ticking: boolean, intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [ticking, intervalMs]);
  return ticking ? now : Date.now();
}

/** Sets the browser tab's title while mounted, and puts the previous one back after. */
export function useDocumentTitle(title: string | null): void {
  useEffect(() => {
    if (title === null) return;
    const previous = document.title;
    document.title = title;
    return () => {
      document.title = previous;
    };
  }, [title]);
}

/** Shows `href` as the tab's icon while mounted (a job's state as a coloured dot), then the page's own icon again. */
export function useFavicon(href: string | null): void {
  useEffect(() => {
    const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
    if (!link || href === null) return;
    const previous = link.href;
    link.href = href;
    return () => {
      link.href = previous;
    };
  }, [href]);
}
