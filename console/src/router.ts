// Hash routes (`#/models`, `#/balances?watch=…`): the gateway serves one page, and a route
// never reaches the server.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: string;
  params: URLSearchParams;
}

export function current(): Route {
  const h = location.hash.replace(/^#\/?/, '');
  const [page, q] = h.split('?');
  return { page: page || 'models', params: new URLSearchParams(q ?? '') };
}

export function navigate(page: string, params: Record<string, string> = {}): void {
  const q = new URLSearchParams(params).toString();
  location.hash = `#/${page}${q ? `?${q}` : ''}`;
}

export function useRoute(): Route {
  const [r, setR] = useState(current());
  useEffect(() => {
    const on = () => setR(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return r;
}
