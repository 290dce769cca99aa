// The DNS check of a domain's apex or a zone's hostname: the last answer, or a fresh one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";

export type DnsCheckView = components["schemas"]["DnsCheckView"];
export type DnsCheckTarget = { kind: "domain" | "zone"; id: string };

const key = (t: DnsCheckTarget) => ["dns-check", t.kind, t.id] as const;

async function fetchCheck(t: DnsCheckTarget, refresh: boolean, signal?: AbortSignal): Promise<DnsCheckView> {
  const params = { path: { id: t.id }, query: { refresh } };
  return t.kind === "domain"
    ? unwrap(api.GET("/api/v1/domains/{id}/dns-check", { params, signal }))
    : unwrap(api.GET("/api/v1/zones/{id}/dns-check", { params, signal }));
}

/** The last check (the panel makes one when there is none). */
export function useDnsCheck(t: DnsCheckTarget) {
  return useQuery({ queryKey: key(t), queryFn: ({ signal }) => fetchCheck(t, false, signal) });
}

/** Asks DNS again now. */
export function useRecheckDns(t: DnsCheckTarget) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => fetchCheck(t, true),
    onSuccess: (view) => client.setQueryData(key(t), view),
  });
}

/** One line saying what the check found, for people. */
export function describeCheck(v: DnsCheckView): { tone: "ok" | "bad" | "neutral"; label: string } {
  switch (v.verdict) {
    case "pass":
      return { tone: "ok", label: "DNS points at the fleet" };
    case "fail":
      return { tone: "bad", label: "DNS does not point at the fleet" };
    default:
      return { tone: "neutral", label: "DNS not compared (no public addresses set)" };
  }
}
