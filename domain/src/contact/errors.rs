/// Why a `Contact` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("a contact snapshot needs a non-empty display name")]
    EmptyDisplayName,
    #[error("a contact we never recorded cannot vanish")]
    NeverRecorded,
}
