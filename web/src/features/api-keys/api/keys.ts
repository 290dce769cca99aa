// The caller's own API keys: list, create (the secret comes back once), revoke.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";

export type ApiKeyView = components["schemas"]["ApiKeyView"];
export type CreatedApiKey = components["schemas"]["CreatedApiKey"];
export type NewApiKey = components["schemas"]["NewApiKey"];

export const PAGE_SIZE = 50;

export const keyKeys = {
  list: (q: string, offset: number) => ["api-keys", "list", { q, offset }] as const,
};

export function useKeyPage(q: string, offset: number) {
  return useQuery({
    queryKey: keyKeys.list(q, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/api-keys", { params: { query: { limit: PAGE_SIZE, offset, ...(q ? { q } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

export function useCreateKey() {
  const client = useQueryClient();
  return useMutation({
    // Not a dry run, so the answer is the key (the 201), never the diff.
    mutationFn: async (body: NewApiKey): Promise<CreatedApiKey> => (await unwrap(api.POST("/api/v1/api-keys", { body }))) as CreatedApiKey,
    onSuccess: () => void client.invalidateQueries({ queryKey: ["api-keys", "list"] }),
  });
}

export function useRevokeKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/api-keys/{id}", { params: { path: { id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["api-keys", "list"] }),
  });
}

/** `2027-01-31` (a date input, the user's time zone) → the end of that day as RFC 3339; "" → none. */
export function expiryFromDate(date: string): { ok: true; value: string | null } | { ok: false } {
  const d = date.trim();
  if (d === "") return { ok: true, value: null };
  const t = new Date(`${d}T23:59:59`);
  return /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(t.getTime()) ? { ok: true, value: t.toISOString() } : { ok: false };
}

export type KeyState = "active" | "revoked" | "expired";

export function keyState(key: ApiKeyView, now: number): KeyState {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at).getTime() <= now) return "expired";
  return "active";
}
