//! JobNimbus v1 ("Open API", `/api1`). For now only the sandbox: an in-process HTTP server that
//! behaves like the real API (reference/external-apis.md §1), quirks included.

pub mod sandbox;
