use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, PgConnection};

use super::{DatabaseTarget, StoreError};

/// A throw-away database next to a real one: a fresh PostgreSQL database on the same server,
/// or a SQLite file in a new temporary directory. Benchmarks and tests use it so they never
/// write into a database that holds real data.
pub struct ScratchDatabase {
    target: DatabaseTarget,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres {
        admin_url: SecretString,
        name: String,
    },
    Sqlite(PathBuf),
}

impl ScratchDatabase {
    /// Creates an empty database named after `label` beside `near`.
    pub async fn create(near: &DatabaseTarget, label: &str) -> Result<Self, StoreError> {
        let unique = format!(
            "{label}_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        match near {
            DatabaseTarget::Postgres(admin_url) => {
                let mut conn = PgConnection::connect(admin_url.expose_secret()).await?;
                // `unique` is built from a label we control, digits and underscores.
                sqlx::query(&format!("create database {unique}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let url = with_database(admin_url.expose_secret(), &unique);
                Ok(Self {
                    target: DatabaseTarget::Postgres(SecretString::from(url)),
                    cleanup: Cleanup::Postgres {
                        admin_url: admin_url.clone(),
                        name: unique,
                    },
                })
            }
            DatabaseTarget::Sqlite(_) => {
                let dir = std::env::temp_dir().join(unique);
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
                Ok(Self {
                    target: DatabaseTarget::Sqlite(dir.join("scratch.db")),
                    cleanup: Cleanup::Sqlite(dir),
                })
            }
        }
    }

    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }

    /// Drops the database (PostgreSQL) or deletes its directory (SQLite). Close every pool
    /// on it first.
    pub async fn remove(self) -> Result<(), StoreError> {
        match self.cleanup {
            Cleanup::Postgres { admin_url, name } => {
                let mut conn = PgConnection::connect(admin_url.expose_secret()).await?;
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
            }
            Cleanup::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Ok(())
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let server = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name_and_keeps_parameters() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgres://h:1/", "x"), "postgres://h:1/x");
    }
}
