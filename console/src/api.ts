// The gateway's API, from the page's own origin. Errors keep the API's words: every failure
// becomes an ApiError whose message is the gateway's `message` (or says what went wrong when
// there was no JSON answer), and views show that text.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  let r: Response;
  try {
    r = await fetch(path, {
      ...init,
      headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `The gateway could not be reached (${(e as Error).message})`);
  }
  return answer<T>(r);
}

/** The JSON of a response, or its error as an ApiError. */
export async function answer<T>(r: Response): Promise<T> {
  const text = await r.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!r.ok) {
    const b = (body ?? {}) as { error?: unknown; message?: unknown };
    const code = typeof b.error === 'string' ? b.error : `HTTP_${r.status}`;
    const message =
      typeof b.message === 'string' && b.message
        ? b.message
        : `The gateway answered ${r.status} ${r.statusText || ''}`.trim();
    throw new ApiError(r.status, code, message);
  }
  if (body === undefined) throw new ApiError(r.status, 'BAD_ANSWER', 'The gateway sent an answer that is not JSON');
  return body as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
