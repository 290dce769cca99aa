// Zones whose hostname no certificate covers today (GET /certificates/uncovered): HTTPS
// handshakes for them fail until a certificate is issued or uploaded.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";

/** How many the overview lists; the total says how many more there are. */
export const UNCOVERED_SHOWN = 20;

export function useUncovered() {
  return useQuery({
    queryKey: ["overview", "uncovered"],
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/certificates/uncovered", { params: { query: { limit: UNCOVERED_SHOWN } }, signal })),
  });
}
