//! Jobber (GraphQL API behind OAuth 2.0, reference/external-apis.md §2). For now only the
//! sandbox: an in-process authorisation server and a minimal GraphQL endpoint that behave like
//! the real ones, strictness included, so the OAuth client, the token vault and the refresh
//! logic can be tested without a Jobber developer account.

pub mod sandbox;
