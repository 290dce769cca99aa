import type { components } from "@/lib/api/schema.gen";

export type NamedBackendView = components["schemas"]["NamedBackendView"];
export type NewNamedBackend = components["schemas"]["NewNamedBackend"];
export type NamedBackendUpdate = components["schemas"]["NamedBackendUpdate"];
export type BackendDiff = components["schemas"]["BackendDiff"];
export type Rerendered = components["schemas"]["Rerendered"];
export type Me = components["schemas"]["Me"];
