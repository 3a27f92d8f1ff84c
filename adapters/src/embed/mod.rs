//! Signed, short-lived links to the embedded panels: HS256 tokens that name one job and one
//! panel, verified without server-side sessions.

mod links;
mod token;

pub use links::{EmbedLinks, IssueError, IssuedLink};
pub use token::{EmbedGrant, EmbedSession, EmbedSigner, TokenRejection, MIN_SECRET_LEN};
