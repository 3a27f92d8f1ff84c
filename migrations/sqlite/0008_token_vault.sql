-- The token vault: each connection's OAuth tokens, AES-256-GCM encrypted, outside the event
-- store. Events are kept forever and name only a version of this row; the row can be
-- shredded (its ciphertext deleted) when the user disconnects.
-- Timestamps are RFC 3339 UTC text, which sorts chronologically.
create table connection_secrets
(
    -- `jobber:user:<user_id>`, the Connection aggregate's id; also bound into the
    -- ciphertext's associated data, so a ciphertext copied to another row does not decrypt.
    connection_id text primary key,
    -- Grows by one on every store and survives a shred, so a version named by an event
    -- never points at two different token sets.
    version       integer not null check (version > 0),
    -- Which key of TOKEN_ENCRYPTION_KEY sealed the row (rotation re-seals under the newest).
    key_id        text,
    -- 96-bit random GCM nonce, fresh on every write.
    nonce         blob,
    -- The tokens, encrypted, followed by the 16-byte GCM tag.
    ciphertext    blob,
    updated_at    text    not null,
    -- Sealed columns are all set, or all null once shredded.
    check ((key_id is null) = (ciphertext is null) and (nonce is null) = (ciphertext is null))
) strict;
