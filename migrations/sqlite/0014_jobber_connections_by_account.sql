-- An APP_DISCONNECT webhook names a Jobber account; its connections are found through this
-- index rather than by scanning every connection.
create index jobber_connections_by_account on jobber_connections (account_id);
