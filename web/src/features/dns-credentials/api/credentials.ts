import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { CredentialPatch, CredentialView, NewCredential } from "./types";

export const PAGE_SIZE = 50;

export const credentialKeys = {
  list: (q: string, offset: number) => ["dns-credentials", "list", { q, offset }] as const,
};

export function useCredentialPage(q: string, offset: number) {
  return useQuery({
    queryKey: credentialKeys.list(q, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/dns-credentials", { params: { query: { limit: PAGE_SIZE, offset, ...(q ? { q } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

/** Every list of credentials (this page's, the domains page's choices) changes together. */
function useInvalidateCredentials() {
  const client = useQueryClient();
  return () => void client.invalidateQueries({ queryKey: ["dns-credentials"] });
}

export function useCreateCredential() {
  const invalidate = useInvalidateCredentials();
  return useMutation({
    mutationFn: async (body: NewCredential): Promise<CredentialView> => (await unwrap(api.POST("/api/v1/dns-credentials", { body }))) as CredentialView,
    onSuccess: invalidate,
  });
}

export function useRotateCredential() {
  const invalidate = useInvalidateCredentials();
  return useMutation({
    mutationFn: async ({ id, patch }: { id: string; patch: CredentialPatch }): Promise<CredentialView> =>
      (await unwrap(api.PATCH("/api/v1/dns-credentials/{id}", { params: { path: { id } }, body: patch }))) as CredentialView,
    onSuccess: invalidate,
  });
}

export function useDeleteCredential() {
  const invalidate = useInvalidateCredentials();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/dns-credentials/{id}", { params: { path: { id } } })),
    onSuccess: invalidate,
  });
}
