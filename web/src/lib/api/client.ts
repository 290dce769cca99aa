// The one API client: openapi-fetch typed by the generated schema (schema.gen.ts, from
// the API's OpenAPI document — never edited by hand). Authentication is the session
// cookie (HttpOnly, sent by the browser); every unsafe request carries the session's
// CSRF token in X-CSRF-Token. API keys never live in the browser.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema.gen";
import { apiErrorFrom, networkError } from "./errors";

export const CSRF_COOKIE = "sy_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

let csrfToken: string | null = null;

/** Remembers the token login returned (the `sy_csrf` cookie carries it across reloads). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function currentCsrfToken(): string | null {
  return csrfToken ?? readCookie(document.cookie, CSRF_COOKIE);
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called on every 401 (except a failed login): the session is gone. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const session: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      const token = currentCsrfToken();
      if (token) request.headers.set(CSRF_HEADER, token);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.endsWith("/auth/login")) {
      unauthorizedListeners.forEach((l) => {
        l();
      });
    }
    return response;
  },
};

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
});
api.use(session);

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits an openapi-fetch call and returns its data, or throws an ApiError built from
 * the API's error body (or a network error when there was no answer at all).
 */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await call;
  } catch (e) {
    throw networkError(e);
  }
  const { data, error, response } = result;
  if (!response.ok || error !== undefined) {
    throw apiErrorFrom(response.status, error, response.headers.get("x-request-id"));
  }
  return data as T;
}
