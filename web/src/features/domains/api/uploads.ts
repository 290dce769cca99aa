// Certificates an operator brings (an EV/OV certificate, a corporate CA): listed per
// domain, uploaded for the domain (its wildcard and apex) or one exact hostname in it,
// replaced, deleted. The panel checks chain, key and names; the key is never shown again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";

export type UploadView = components["schemas"]["UploadView"];
export type NewUpload = components["schemas"]["NewUpload"];

export const uploadKeys = {
  list: (domainId: string) => ["domains", "uploads", domainId] as const,
};

/** Days left below which an uploaded certificate is flagged: nothing renews it. */
export const UPLOAD_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export function useUploads(domainId: string, enabled = true) {
  return useQuery({
    queryKey: uploadKeys.list(domainId),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/domains/{id}/uploaded-certificates", { params: { path: { id: domainId } }, signal })),
    enabled,
  });
}

/** After any upload change: the list, and every zone's "which certificate serves it". */
function invalidate(client: ReturnType<typeof useQueryClient>, domainId: string) {
  void client.invalidateQueries({ queryKey: uploadKeys.list(domainId) });
  void client.invalidateQueries({ queryKey: ["zones"] });
  void client.invalidateQueries({ queryKey: ["revisions"] });
}

export function useUpload(domainId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewUpload): Promise<UploadView> =>
      (await unwrap(api.POST("/api/v1/domains/{id}/uploaded-certificates", { params: { path: { id: domainId } }, body }))) as UploadView,
    onSuccess: () => { invalidate(client, domainId); },
  });
}

/** Checks a chain and key without storing anything (`?dry_run=true`). */
export function useCheckUpload(domainId: string) {
  return useMutation({
    mutationFn: (body: NewUpload) =>
      unwrap(api.POST("/api/v1/domains/{id}/uploaded-certificates", { params: { path: { id: domainId }, query: { dry_run: true } }, body })),
  });
}

export function useReplaceUpload(domainId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, chain_pem, key_pem }: { id: string; chain_pem: string; key_pem: string }): Promise<UploadView> =>
      (await unwrap(api.PUT("/api/v1/uploaded-certificates/{id}", { params: { path: { id } }, body: { chain_pem, key_pem } }))) as UploadView,
    onSuccess: () => { invalidate(client, domainId); },
  });
}

export function useDeleteUpload(domainId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api/v1/uploaded-certificates/{id}", { params: { path: { id } } })),
    onSuccess: () => { invalidate(client, domainId); },
  });
}

export interface UploadSummary {
  /** What it covers, in words: "*.example.com and example.com" or "shop.example.com". */
  covers: string;
  tone: "ok" | "warn" | "bad";
  /** "Valid until …, 80 days left" / "Expired on …". */
  validity: string;
}

/** One uploaded certificate in words, as of `now` (ms). */
export function describeUpload(u: UploadView, now: number): UploadSummary {
  const covers = u.hostname ?? u.names.join(" and ");
  const days = Math.floor((Date.parse(u.not_after) - now) / DAY_MS);
  const until = new Date(u.not_after).toLocaleDateString();
  if (days < 0) return { covers, tone: "bad", validity: `Expired on ${until}: replace it.` };
  return {
    covers,
    tone: days < UPLOAD_WARNING_DAYS ? "warn" : "ok",
    validity: `Valid until ${until} (${days === 1 ? "1 day" : `${days} days`} left; never renewed automatically).`,
  };
}

/** The text of a chosen PEM file, refused when it is clearly not one (a DER or a zip). */
export async function readPemFile(file: File): Promise<string> {
  const text = await file.text();
  if (!text.includes("-----BEGIN ")) throw new Error(`${file.name} is not a PEM file (no “-----BEGIN” line).`);
  return text;
}
