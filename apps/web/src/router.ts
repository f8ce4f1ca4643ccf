import { useEffect, useState, type MouseEvent } from 'react';

export type Route =
  | { page: 'new' }
  | { page: 'generation'; id: string }
  | { page: 'jobs' }
  | { page: 'batch'; id: string }
  | { page: 'compare'; a: string; b: string }
  | { page: 'missing'; path: string };

/** Client-side routes (the API serves index.html for each). */
export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'new' };
  if (parts[0] === 'g' && parts[1]) return { page: 'generation', id: parts[1] };
  if (parts[0] === 'jobs' && parts.length === 1) return { page: 'jobs' };
  if (parts[0] === 'b' && parts[1]) return { page: 'batch', id: parts[1] };
  if (parts[0] === 'compare' && parts[1] && parts[2]) return { page: 'compare', a: parts[1], b: parts[2] };
  return { page: 'missing', path: pathname };
}

/** Follows a link inside the app without reloading (ordinary clicks only; new tabs work as links do). */
export function navigate(e: MouseEvent | null, to: string): void {
  if (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
  }
  if (to !== window.location.pathname) window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.pathname));
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return route;
}
