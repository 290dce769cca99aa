//! `switchyard-openapi`: prints the panel API's OpenAPI 3.1 document, pretty JSON on
//! stdout — byte for byte what `GET /api/v1/openapi.json` serves.
//!
//! The document is built from the router's handlers and types alone
//! ([`panel_api::openapi::document_json`]), so this needs no database, no Redis and no
//! configuration. The web panel generates its API types from this output
//! (`web/`: `npm run gen:api`, and `web/scripts/check-api-drift.sh` fails the build when
//! the committed types no longer match). It never connects to anything.

use std::io::Write as _;

fn main() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(panel_api::openapi::document_json().as_bytes())?;
    out.write_all(b"\n")
}
