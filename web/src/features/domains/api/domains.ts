// Domains, their certificates: creating one, changing its DNS credential, deleting it
// (after the API's dry run has said what goes), re-issuing its certificate.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import { isInFlight } from "./certificate";
import type { Diff } from "@/lib/changes";
import type { CertificateView, DomainPatch, DomainView, NewDomain } from "./types";

export const PAGE_SIZE = 25;
/** How often a certificate whose order is in flight is read again. */
const IN_FLIGHT_POLL_MS = 10_000;

export const domainKeys = {
  all: ["domains"] as const,
  list: (q: string, offset: number) => ["domains", "list", { q, offset }] as const,
  certificate: (id: string) => ["domains", "certificate", id] as const,
  credentials: ["dns-credentials", "options"] as const,
  deletion: (id: string) => ["domains", "deletion", id] as const,
};

export function useDomainPage(q: string, offset: number) {
  return useQuery({
    queryKey: domainKeys.list(q, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/domains", { params: { query: { limit: PAGE_SIZE, offset, ...(q ? { q } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

/** The domain's certificate; null when it has none (404). Polled while an order runs. */
export function useCertificate(domainId: string) {
  return useQuery({
    queryKey: domainKeys.certificate(domainId),
    queryFn: async ({ signal }): Promise<CertificateView | null> => {
      try {
        return await unwrap(api.GET("/api/v1/domains/{id}/certificate", { params: { path: { id: domainId } }, signal }));
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    refetchInterval: (query) => (isInFlight(query.state.data) ? IN_FLIGHT_POLL_MS : false),
  });
}

/** The DNS credentials a new domain may use (admins only: creating domains is theirs). */
export function useCredentialOptions(enabled: boolean) {
  return useQuery({
    queryKey: domainKeys.credentials,
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/dns-credentials", { params: { query: { limit: 200 } }, signal })),
    enabled,
    staleTime: 30_000,
  });
}

export function useCreateDomain() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewDomain): Promise<DomainView> => (await unwrap(api.POST("/api/v1/domains", { body }))) as DomainView,
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["domains", "list"] });
      void client.invalidateQueries({ queryKey: ["overview"] });
      // A domain's creation is a revision of the configuration's history.
      void client.invalidateQueries({ queryKey: ["revisions"] });
    },
  });
}

export function useReissue() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (domainId: string): Promise<CertificateView> =>
      (await unwrap(api.POST("/api/v1/domains/{id}/certificate/reissue", { params: { path: { id: domainId } } }))) as CertificateView,
    onSuccess: (cert) => {
      client.setQueryData(domainKeys.certificate(cert.domain_id), cert);
    },
  });
}

export function useUpdateDomain() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, patch }: { id: string; patch: DomainPatch }): Promise<DomainView> =>
      (await unwrap(api.PATCH("/api/v1/domains/{id}", { params: { path: { id } }, body: patch }))) as DomainView,
    onSuccess: () => void client.invalidateQueries({ queryKey: ["domains", "list"] }),
  });
}

/**
 * What deleting the domain would take with it — the API's dry run with `cascade`, which
 * changes nothing — read each time the confirm dialog opens (never from the cache).
 */
export function useDeletionPreview(id: string, enabled: boolean) {
  return useQuery({
    queryKey: domainKeys.deletion(id),
    queryFn: (): Promise<Diff> => unwrap(api.DELETE("/api/v1/domains/{id}", { params: { path: { id }, query: { dry_run: true, cascade: true } } })) as Promise<Diff>,
    enabled,
    gcTime: 0,
    staleTime: 0,
    retry: false,
  });
}

/**
 * Deletes the domain; `cascade` only when the confirmed preview had zones, so a zone
 * added since the preview is refused (409, named) rather than deleted unseen.
 */
export function useDeleteDomain() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, cascade }: { id: string; cascade: boolean }) =>
      unwrap(api.DELETE("/api/v1/domains/{id}", { params: { path: { id }, query: cascade ? { cascade: true } : {} } })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["domains"] });
      void client.invalidateQueries({ queryKey: ["zones"] });
      void client.invalidateQueries({ queryKey: ["overview"] });
    },
  });
}
