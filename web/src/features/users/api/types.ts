import type { components } from "@/lib/api/schema.gen";

export type UserView = components["schemas"]["UserView"];
export type NewUser = components["schemas"]["NewUser"];
export type UserPatch = components["schemas"]["UserPatch"];
export type GrantView = components["schemas"]["GrantView"];
export type NewGrant = components["schemas"]["NewGrant"];
