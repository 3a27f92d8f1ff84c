// `sqlx::migrate!` embeds the migration files at compile time; without this, adding a
// migration does not rebuild the crate and the binary silently ships the old set.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
