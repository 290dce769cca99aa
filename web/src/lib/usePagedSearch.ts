import { useState } from "react";

import { useDebounced } from "./useDebounced";

/** How long a search box waits for typing to stop before it asks the server. */
export const SEARCH_DEBOUNCE_MS = 300;

/**
 * The state of an offset-paged list searched by the server: the search box's text, the
 * debounced query sent to the API, and the page offset, which goes back to the first
 * page whenever the query changes (set during render, React's pattern for state derived
 * from other state).
 */
export function usePagedSearch() {
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim(), SEARCH_DEBOUNCE_MS);
  const [offset, setOffset] = useState(0);
  const [lastQ, setLastQ] = useState(q);
  if (q !== lastQ) {
    setLastQ(q);
    setOffset(0);
  }
  return { search, setSearch, q, offset, setOffset };
}
