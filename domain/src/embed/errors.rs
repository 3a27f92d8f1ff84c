/// Why an embed link command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedLinkError {
    /// Each link id is issued once; a second issue would mean two tokens with one id.
    #[error("this embed link was already issued")]
    AlreadyIssued,
    #[error("an embed link must expire after it is issued")]
    ExpiresBeforeIssued,
}
