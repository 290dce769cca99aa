import type { components } from "@/lib/api/schema.gen";

export type ZoneSpec = components["schemas"]["ZoneSpec"];
export type ZoneView = components["schemas"]["ZoneView"];
/** A zone as a real create or update answers it: plus the write's version and commit time. */
export type ZoneWritten = components["schemas"]["ZoneWritten"];
export type DegradedZone = components["schemas"]["DegradedZone"];
export type ZoneRead = components["schemas"]["ZoneRead"];
export type ZonePage = components["schemas"]["ZonePage"];
export type Diff = components["schemas"]["Diff"];
/** One hostname's Redis record now and after a write (dry runs). */
export type RecordChange = components["schemas"]["RecordChange"];
export type BackendSpec = components["schemas"]["BackendSpec"];
export type Timeouts = components["schemas"]["Timeouts"];
export type NamedBackendView = components["schemas"]["NamedBackendView"];
/** A route's policies (rewrite, redirect, header edits, HSTS, limits, basic auth, JWT, forward auth, error pages). */
export type Policies = components["schemas"]["Policies"];
export type BasicUser = components["schemas"]["BasicUser"];
export type Jwt = components["schemas"]["Jwt"];
export type ForwardAuth = components["schemas"]["ForwardAuth"];
export type HeaderRules = components["schemas"]["HeaderRules"];
export type Rewrite = components["schemas"]["Rewrite"];
export type HealthCheck = components["schemas"]["HealthCheck"];
export type Split = components["schemas"]["Split"];
export type SplitGroup = components["schemas"]["SplitGroup"];
export type Retry = components["schemas"]["Retry"];
export type CircuitBreaker = components["schemas"]["CircuitBreaker"];

/** A zone as a list or read shows it: from PostgreSQL, or (degraded) from Redis. */
export type AnyZone = ZoneView | DegradedZone;

export function isDegradedZone(zone: AnyZone): zone is DegradedZone {
  return "degraded" in zone && zone.degraded;
}
