// The auth layer: who is logged in (GET /me), login and logout through the API's cookie
// session, and the reaction to a 401 from any request (forget the user, so the router
// sends them to /login?next=… and back afterwards).
import { createContext, useContext, useEffect, useMemo, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, onUnauthorized, setCsrfToken, unwrap } from "./api/client";
import { ApiError } from "./api/errors";
import type { components } from "./api/schema.gen";

export type Me = components["schemas"]["Me"];

const ME_KEY = ["me"] as const;

interface AuthValue {
  /** undefined while the first /me is in flight; null when nobody is logged in. */
  user: Me | null | undefined;
  isAdmin: boolean;
  /** /me failed for a reason other than 401 (API down): shown instead of a login form. */
  error: unknown;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

async function fetchMe(signal: AbortSignal): Promise<Me | null> {
  try {
    return await unwrap(api.GET("/api/v1/me", { signal }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const me = useQuery({
    queryKey: ME_KEY,
    queryFn: ({ signal }) => fetchMe(signal),
    staleTime: Infinity,
    retry: (count, e) => !(e instanceof ApiError && e.status < 500 && e.status > 0) && count < 2,
  });

  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrfToken(null);
        client.setQueryData(ME_KEY, null);
      }),
    [client],
  );

  const { mutateAsync: loginAsync } = useMutation({
    mutationFn: async ({ username, password }: { username: string; password: string }) => {
      const answer = await unwrap(api.POST("/api/v1/auth/login", { body: { username, password } }));
      setCsrfToken(answer.csrf_token);
      // Everything cached belonged to whoever was here before.
      client.removeQueries({ predicate: (q) => q.queryKey[0] !== ME_KEY[0] });
      await client.query({ queryKey: ME_KEY, queryFn: ({ signal }) => fetchMe(signal), staleTime: 0 });
    },
  });

  const { mutateAsync: logoutAsync } = useMutation({
    mutationFn: async () => {
      try {
        await unwrap(api.POST("/api/v1/auth/logout"));
      } finally {
        setCsrfToken(null);
        client.clear();
        client.setQueryData(ME_KEY, null);
      }
    },
  });

  const value = useMemo<AuthValue>(
    () => ({
      user: me.data,
      isAdmin: me.data?.role === "admin",
      error: me.data === undefined ? me.error : null,
      login: (username, password) => loginAsync({ username, password }),
      logout: () => logoutAsync(),
    }),
    [me.data, me.error, loginAsync, logoutAsync],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside <AuthProvider>");
  return value;
}

/**
 * Where to go after login: `next` when it is a path inside the panel, else the
 * overview. Never another origin (`//evil.example`, `https://…`).
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next.startsWith("/login")) return "/";
  return next;
}
