// Users and their grants (admins only), and the choices a grant is made from.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { Diff } from "@/lib/changes";
import type { GrantView, NewGrant, NewUser, UserPatch, UserView } from "./types";

export const PAGE_SIZE = 50;
const CHOICES = 50;

export const userKeys = {
  list: (q: string, offset: number) => ["users", "list", { q, offset }] as const,
  detail: (id: string) => ["users", "detail", id] as const,
  deletion: (id: string) => ["users", "deletion", id] as const,
  grants: (userId: string) => ["grants", "list", { user_id: userId }] as const,
  domain: (id: string) => ["domains", "detail", id] as const,
  backend: (id: string) => ["named-backends", "detail", id] as const,
  domainChoices: (q: string) => ["domains", "choices", q] as const,
  backendChoices: (q: string) => ["named-backends", "choices", q] as const,
};

export function useUserPage(q: string, offset: number) {
  return useQuery({
    queryKey: userKeys.list(q, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/users", { params: { query: { limit: PAGE_SIZE, offset, ...(q ? { q } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

export function useUser(id: string) {
  return useQuery({
    queryKey: userKeys.detail(id),
    queryFn: ({ signal }): Promise<UserView> => unwrap(api.GET("/api/v1/users/{id}", { params: { path: { id } }, signal })),
  });
}

export function useCreateUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewUser): Promise<UserView> => (await unwrap(api.POST("/api/v1/users", { body }))) as UserView,
    onSuccess: () => void client.invalidateQueries({ queryKey: ["users", "list"] }),
  });
}

export function useUpdateUser(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (patch: UserPatch): Promise<UserView> => (await unwrap(api.PATCH("/api/v1/users/{id}", { params: { path: { id } }, body: patch }))) as UserView,
    onSuccess: (user) => {
      client.setQueryData(userKeys.detail(id), user);
      void client.invalidateQueries({ queryKey: ["users", "list"] });
    },
  });
}

/** Every grant of one user (a user rarely has more than a few hundred). */
export function useGrants(userId: string) {
  return useQuery({
    queryKey: userKeys.grants(userId),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/grants", { params: { query: { user_id: userId, limit: 500 } }, signal })),
  });
}

export function useCreateGrant(userId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewGrant): Promise<GrantView> => (await unwrap(api.POST("/api/v1/grants", { body }))) as GrantView,
    onSuccess: () => void client.invalidateQueries({ queryKey: userKeys.grants(userId) }),
  });
}

export function useRevokeGrant(userId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/grants/{id}", { params: { path: { id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: userKeys.grants(userId) }),
  });
}

/** A granted domain's name (the grant holds only its id). */
export function useDomainName(id: string) {
  return useQuery({
    queryKey: userKeys.domain(id),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/domains/{id}", { params: { path: { id } }, signal })),
    select: (d) => d.name,
    staleTime: 60_000,
  });
}

/** A granted named backend's name. */
export function useBackendName(id: string) {
  return useQuery({
    queryKey: userKeys.backend(id),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/named-backends/{id}", { params: { path: { id } }, signal })),
    select: (b) => b.name,
    staleTime: 60_000,
  });
}

/** What a grant can be on: domains or named backends whose name contains `q`. */
export function useResourceChoices(kind: "domain" | "named_backend", q: string) {
  return useQuery({
    queryKey: kind === "domain" ? userKeys.domainChoices(q) : userKeys.backendChoices(q),
    queryFn: async ({ signal }) => {
      const query = { limit: CHOICES, ...(q ? { q } : {}) };
      const page =
        kind === "domain"
          ? await unwrap(api.GET("/api/v1/domains", { params: { query }, signal }))
          : await unwrap(api.GET("/api/v1/named-backends", { params: { query }, signal }));
      return { items: page.items.map((r) => ({ id: r.id, name: r.name })), total: page.total, more: page.total > page.items.length };
    },
    placeholderData: keepPreviousData,
  });
}

/** What deleting the user would take with them: the API's dry run (nothing changed). */
export function useUserDeletionPreview(id: string, enabled: boolean) {
  return useQuery({
    queryKey: userKeys.deletion(id),
    queryFn: (): Promise<Diff> => unwrap(api.DELETE("/api/v1/users/{id}", { params: { path: { id }, query: { dry_run: true } } })) as Promise<Diff>,
    enabled,
    gcTime: 0,
    staleTime: 0,
    retry: false,
  });
}

export function useDeleteUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/users/{id}", { params: { path: { id } } })),
    onSuccess: (_, id) => {
      client.removeQueries({ queryKey: userKeys.detail(id) });
      void client.invalidateQueries({ queryKey: ["users", "list"] });
      void client.invalidateQueries({ queryKey: ["grants"] });
    },
  });
}
