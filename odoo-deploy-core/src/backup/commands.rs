//! Every command a backup runs, built as data by pure functions.
//!
//! Database names never reach SQL text: scripts are fixed strings fed on stdin and
//! names travel as psql variables (`-v dst=NAME`, used as `:"dst"` or `:'dst'`).
//! Names given to the client tools go in a libpq connection string whose value is
//! quoted (`dbname='…'`), so a name containing `=` is not read as connection options.
//! The password only ever travels in the environment (`PGPASSWORD`).

use std::path::{Path, PathBuf};

use crate::command::RemoteCommand;

use super::DbConn;

/// The database psql connects to for `CREATE`/`ALTER`/`DROP DATABASE`.
pub const MAINTENANCE_DB: &str = "postgres";

/// Where the PostgreSQL client programs are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgTools {
    /// `None`: looked up on the host's `PATH`.
    pub bin_dir: Option<PathBuf>,
}

impl PgTools {
    fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// A client program with the connection settings of `conn` in its environment
    /// (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` as a secret) and `-w`: never prompt.
    fn client(&self, name: &str, conn: &DbConn) -> RemoteCommand {
        let mut cmd = RemoteCommand::new(self.program(name));
        if let Some(host) = &conn.host {
            cmd = cmd.env("PGHOST", host);
        }
        if let Some(port) = conn.port {
            cmd = cmd.env("PGPORT", port.to_string());
        }
        if let Some(user) = &conn.user {
            cmd = cmd.env("PGUSER", user);
        }
        if let Some(pw) = &conn.password {
            cmd = cmd.secret_env("PGPASSWORD", pw.clone());
        }
        cmd.env("PGCONNECT_TIMEOUT", "10").arg("-w")
    }

    /// `NAME --version` of one client program (`psql`, `pg_dump`, `pg_restore`).
    pub fn client_version(&self, name: &str) -> RemoteCommand {
        RemoteCommand::new(self.program(name)).arg("--version")
    }

    /// `psql` on `db`, quiet, unaligned, tuples only, stopping at the first error,
    /// with `vars` set as psql variables and `sql` on stdin.
    pub fn psql(&self, conn: &DbConn, db: &str, vars: &[(&str, &str)], sql: &str) -> RemoteCommand {
        let mut cmd = self.client("psql", conn).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &conninfo_dbname(db),
        ]);
        for (name, value) in vars {
            cmd = cmd.arg("-v").arg(format!("{name}={value}"));
        }
        cmd.stdin_bytes(sql.as_bytes().to_vec())
    }

    /// Sizes, exact row counts of every table and installed module versions of `db`,
    /// as two JSON lines (see [`INFO_SQL`]).
    pub fn db_info(&self, conn: &DbConn, db: &str) -> RemoteCommand {
        self.psql(conn, db, &[], INFO_SQL)
    }

    /// `pg_database_size` of `db`, in bytes.
    pub fn db_size(&self, conn: &DbConn, db: &str) -> RemoteCommand {
        self.psql(conn, db, &[], SIZE_SQL)
    }

    /// Ends every other session on `src`, then `CREATE DATABASE dst TEMPLATE src`.
    pub fn copy_database(&self, conn: &DbConn, src: &str, dst: &str) -> RemoteCommand {
        self.psql(
            conn,
            MAINTENANCE_DB,
            &[("src", src), ("dst", dst)],
            COPY_SQL,
        )
    }

    /// `CREATE DATABASE dst` from `template0`, `unicode`, collation `C`, as Odoo creates them.
    pub fn create_empty_database(&self, conn: &DbConn, dst: &str) -> RemoteCommand {
        self.psql(conn, MAINTENANCE_DB, &[("dst", dst)], CREATE_EMPTY_SQL)
    }

    /// Ends every session on `db`, then `DROP DATABASE IF EXISTS db`.
    pub fn drop_database(&self, conn: &DbConn, db: &str) -> RemoteCommand {
        self.psql(conn, MAINTENANCE_DB, &[("db", db)], DROP_SQL)
    }

    /// Puts `new` in the place of `cur` in one transaction: `cur` (when it exists) is
    /// renamed to `aside`, then `new` to `cur`. Prints `t` when `cur` existed.
    pub fn swap_databases(
        &self,
        conn: &DbConn,
        cur: &str,
        new: &str,
        aside: &str,
    ) -> RemoteCommand {
        self.psql(
            conn,
            MAINTENANCE_DB,
            &[("cur", cur), ("new", new), ("aside", aside)],
            SWAP_SQL,
        )
    }

    /// Whether `db` exists: prints `t` or `f`.
    pub fn database_exists(&self, conn: &DbConn, db: &str) -> RemoteCommand {
        self.psql(conn, MAINTENANCE_DB, &[("db", db)], EXISTS_SQL)
    }

    /// The server's data directory (needs superuser or `pg_read_all_settings`).
    pub fn data_directory(&self, conn: &DbConn) -> RemoteCommand {
        self.psql(conn, MAINTENANCE_DB, &[], "SHOW data_directory;\n")
    }

    /// `pg_dump` of `db` in custom format to `file`, or in directory format with
    /// `jobs` parallel workers to the directory `file`.
    pub fn pg_dump(
        &self,
        conn: &DbConn,
        db: &str,
        format: DumpFormat,
        out: &Path,
    ) -> RemoteCommand {
        let cmd = self.client("pg_dump", conn);
        let cmd = match format {
            DumpFormat::Custom => cmd.arg("-Fc"),
            DumpFormat::Directory { jobs } => cmd.arg("-Fd").arg("-j").arg(jobs.to_string()),
        };
        cmd.arg("-f").arg(out).arg("-d").arg(conninfo_dbname(db))
    }

    /// `pg_restore --list` of a dump: its table of contents.
    pub fn pg_restore_list(&self, dump: &Path) -> RemoteCommand {
        RemoteCommand::new(self.program("pg_restore"))
            .arg("--list")
            .arg("--")
            .arg(dump)
    }

    /// Restores `dump` into the existing, empty `db`, objects owned by the connecting
    /// user, two workers, stopping at the first error.
    pub fn pg_restore(&self, conn: &DbConn, db: &str, dump: &Path) -> RemoteCommand {
        self.client("pg_restore", conn)
            .args(["--no-owner", "--exit-on-error", "-j", "2", "-d"])
            .arg(conninfo_dbname(db))
            .arg("--")
            .arg(dump)
    }
}

/// How `pg_dump` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum DumpFormat {
    /// `-Fc`: one compressed file.
    Custom,
    /// `-Fd -j N`: a directory, dumped by N workers.
    Directory {
        /// Parallel workers.
        jobs: u32,
    },
}

impl DumpFormat {
    /// The name of the dump inside a backup directory.
    pub fn file_name(self) -> &'static str {
        match self {
            DumpFormat::Custom => "db.dump",
            DumpFormat::Directory { .. } => "db.dir",
        }
    }
}

/// A libpq connection string naming only the database, its value quoted: a database
/// name given as `-d NAME` would be parsed as a connection string if it held `=`.
pub fn conninfo_dbname(db: &str) -> String {
    let mut s = String::with_capacity(db.len() + 10);
    s.push_str("dbname='");
    for c in db.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// `tar` of the content of `dir` (members relative to it) into `archive`.
pub fn tar_create(dir: &Path, archive: &Path) -> RemoteCommand {
    RemoteCommand::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(archive)
        .arg(".")
}

/// An empty tar archive, for a database that has no filestore yet.
pub fn tar_create_empty(archive: &Path) -> RemoteCommand {
    RemoteCommand::new("tar")
        .arg("-cf")
        .arg(archive)
        .arg("--files-from")
        .arg("/dev/null")
}

/// The verbose listing of `archive`, owners as numbers (no spaces in that column).
pub fn tar_list(archive: &Path) -> RemoteCommand {
    RemoteCommand::new("tar")
        .arg("--numeric-owner")
        .arg("-tvf")
        .arg(archive)
}

/// Extracts `archive` into the existing directory `dir`.
pub fn tar_extract(archive: &Path, dir: &Path) -> RemoteCommand {
    RemoteCommand::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
}

/// The size of every regular file under `dir`, one per line.
pub fn file_sizes(dir: &Path) -> RemoteCommand {
    RemoteCommand::new("find")
        .arg(dir)
        .args(["-type", "f", "-printf", "%s\\n"])
}

/// `sha256sum` of every file at or under `what` (relative to `dir`, `.` for all)
/// except `metadata.json`, paths relative to `dir` (`./db.dump` for `.`).
pub fn digests(dir: &Path, what: &str) -> RemoteCommand {
    RemoteCommand::new("find").current_dir(dir).arg(what).args([
        "-type",
        "f",
        "!",
        "-name",
        "metadata.json",
        "-exec",
        "sha256sum",
        "--",
        "{}",
        "+",
    ])
}

/// A hard-linked copy of the directory `src` at `dst` (which must not exist).
pub fn hardlink_copy(src: &Path, dst: &Path) -> RemoteCommand {
    RemoteCommand::new("cp")
        .arg("-al")
        .arg("--")
        .arg(src)
        .arg(dst)
}

/// Closes the folder `path` to everyone but its owner (`chmod 700`): what is under it
/// (hard links to the live filestore's files included) cannot be reached through it.
pub fn make_private(path: &Path) -> RemoteCommand {
    RemoteCommand::new("chmod").arg("700").arg("--").arg(path)
}

/// Makes `to` a hard link of the file `from`; fails, changing nothing, when `to`
/// exists (`ln` without `-f` never replaces), which is what creates a file only if absent.
pub fn link_new(from: &Path, to: &Path) -> RemoteCommand {
    RemoteCommand::new("ln")
        .arg("-T")
        .arg("--")
        .arg(from)
        .arg(to)
}

/// Removes `path` and everything under it.
pub fn remove_all(path: &Path) -> RemoteCommand {
    RemoteCommand::new("rm").arg("-rf").arg("--").arg(path)
}

/// The `*.json` files directly in `dir` (run in `dir`), NUL-separated.
pub fn list_json(dir: &Path) -> RemoteCommand {
    RemoteCommand::new("find").current_dir(dir).args([
        ".",
        "-mindepth",
        "1",
        "-maxdepth",
        "1",
        "-type",
        "f",
        "-name",
        "*.json",
        "-print0",
    ])
}

/// Every `*.json` one level below the directories of `dir` (run in `dir`):
/// `./<id>/metadata.json`, `./snapshots/<id>.json`, NUL-separated.
pub fn find_metadata(dir: &Path) -> RemoteCommand {
    RemoteCommand::new("find").current_dir(dir).args([
        ".",
        "-mindepth",
        "2",
        "-maxdepth",
        "2",
        "-type",
        "f",
        "-name",
        "*.json",
        "-print0",
    ])
}

/// Line 1: `{"size": N, "counts": {"schema.table": rows, …}}`; line 2: the installed
/// modules and their versions (`{}` when `ir_module_module` does not exist).
pub const INFO_SQL: &str = r#"SELECT json_build_object(
  'size', pg_database_size(current_database()),
  'counts', (SELECT coalesce(json_object_agg(t.k, t.n ORDER BY t.k), '{}'::json) FROM (
    SELECT format('%s.%s', table_schema, table_name) AS k,
           (xpath('/row/c/text()', query_to_xml(
              format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name),
              false, true, '')))[1]::text::bigint AS n
      FROM information_schema.tables
     WHERE table_type = 'BASE TABLE'
       AND table_schema NOT IN ('pg_catalog', 'information_schema')) t)
);
SELECT to_regclass('public.ir_module_module') IS NOT NULL AS has_modules \gset
\if :has_modules
SELECT coalesce(json_object_agg(name, coalesce(latest_version, '') ORDER BY name), '{}'::json)
  FROM ir_module_module WHERE state = 'installed';
\else
SELECT '{}'::json;
\endif
"#;

/// The size of the connected database.
pub const SIZE_SQL: &str = "SELECT pg_database_size(current_database());\n";

/// Ends the other sessions on `src` and copies it to `dst`.
pub const COPY_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'src' AND pid <> pg_backend_pid() \gset
CREATE DATABASE :"dst" TEMPLATE :"src";
"#;

/// An empty database, made as Odoo's `_create_empty_database` makes one: from
/// `template0`, `ENCODING 'unicode'`, `LC_COLLATE 'C'` (odoo-facts.md), so a database odd
/// creates sorts and compares text as one Odoo created would.
pub const CREATE_EMPTY_SQL: &str = r#"CREATE DATABASE :"dst" ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0;
"#;

/// Ends the sessions on `db` and drops it.
pub const DROP_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = :'db' AND pid <> pg_backend_pid() \gset
DROP DATABASE IF EXISTS :"db";
"#;

/// `t` or `f`.
pub const EXISTS_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db');\n";

/// Renames `cur` aside (when it exists) and `new` into its place, atomically.
pub const SWAP_SQL: &str = r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'cur') AS cur_exists \gset
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname IN (:'cur', :'new') AND pid <> pg_backend_pid() \gset
BEGIN;
\if :cur_exists
ALTER DATABASE :"cur" RENAME TO :"aside";
\endif
ALTER DATABASE :"new" RENAME TO :"cur";
COMMIT;
SELECT :'cur_exists';
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Secret;

    fn conn() -> DbConn {
        DbConn {
            name: "prod".into(),
            host: Some("/run/postgresql".into()),
            port: Some(5433),
            user: Some("odoo".into()),
            password: Some(Secret::new("s3cret")),
        }
    }

    fn argv(c: &RemoteCommand) -> Vec<String> {
        std::iter::once(c.program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn envs(c: &RemoteCommand) -> Vec<(String, String)> {
        c.get_envs()
            .map(|(k, v)| (k.to_owned(), v.to_string_lossy().into_owned()))
            .collect()
    }

    fn tools() -> PgTools {
        PgTools {
            bin_dir: Some("/usr/lib/postgresql/15/bin".into()),
        }
    }

    #[test]
    fn conninfo_quotes_hostile_names() {
        assert_eq!(conninfo_dbname("prod"), "dbname='prod'");
        assert_eq!(
            conninfo_dbname(r"a'b\c host=evil"),
            r"dbname='a\'b\\c host=evil'"
        );
    }

    #[test]
    fn password_travels_in_the_environment_only() {
        let c = tools().pg_dump(
            &conn(),
            "prod",
            DumpFormat::Custom,
            Path::new("/b/x/db.dump"),
        );
        assert!(argv(&c).iter().all(|a| !a.contains("s3cret")));
        assert_eq!(
            envs(&c),
            vec![
                ("PGHOST".into(), "/run/postgresql".into()),
                ("PGPORT".into(), "5433".into()),
                ("PGUSER".into(), "odoo".into()),
                ("PGPASSWORD".into(), "s3cret".into()),
                ("PGCONNECT_TIMEOUT".into(), "10".into()),
            ]
        );
        assert!(!c.display_redacted().contains("s3cret"));
    }

    #[test]
    fn pg_dump_custom_and_directory() {
        let c = tools().pg_dump(
            &conn(),
            "my db",
            DumpFormat::Custom,
            Path::new("/b/x/db.dump"),
        );
        assert_eq!(
            argv(&c),
            [
                "/usr/lib/postgresql/15/bin/pg_dump",
                "-w",
                "-Fc",
                "-f",
                "/b/x/db.dump",
                "-d",
                "dbname='my db'"
            ]
        );
        let c = PgTools::default().pg_dump(
            &conn(),
            "prod",
            DumpFormat::Directory { jobs: 4 },
            Path::new("/b/x/db.dir"),
        );
        assert_eq!(
            argv(&c),
            [
                "pg_dump",
                "-w",
                "-Fd",
                "-j",
                "4",
                "-f",
                "/b/x/db.dir",
                "-d",
                "dbname='prod'"
            ]
        );
    }

    #[test]
    fn pg_restore_commands() {
        let c = tools().pg_restore_list(Path::new("/b/x/db.dump"));
        assert_eq!(
            argv(&c),
            [
                "/usr/lib/postgresql/15/bin/pg_restore",
                "--list",
                "--",
                "/b/x/db.dump"
            ]
        );
        let c = PgTools::default().pg_restore(&conn(), "prod-restore", Path::new("/b/x/db.dump"));
        assert_eq!(
            argv(&c),
            [
                "pg_restore",
                "-w",
                "--no-owner",
                "--exit-on-error",
                "-j",
                "2",
                "-d",
                "dbname='prod-restore'",
                "--",
                "/b/x/db.dump"
            ]
        );
    }

    #[test]
    fn sql_names_travel_as_psql_variables() {
        let hostile = "x\"; DROP DATABASE prod; --";
        let c = PgTools::default().copy_database(&conn(), "prod", hostile);
        assert_eq!(
            argv(&c),
            [
                "psql",
                "-w",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "dbname='postgres'",
                "-v",
                "src=prod",
                "-v",
                "dst=x\"; DROP DATABASE prod; --",
            ]
        );
        assert_eq!(
            c.get_stdin(),
            &crate::command::Stdin::Bytes(COPY_SQL.as_bytes().to_vec())
        );
        assert!(!COPY_SQL.contains("prod"));

        let c = PgTools::default().swap_databases(&conn(), "prod", "prod-new", "prod-old");
        assert_eq!(
            argv(&c)[10..],
            [
                "-v",
                "cur=prod",
                "-v",
                "new=prod-new",
                "-v",
                "aside=prod-old"
            ]
        );
        let c = PgTools::default().drop_database(&conn(), "d");
        assert_eq!(argv(&c)[10..], ["-v", "db=d"]);
        let c = PgTools::default().create_empty_database(&conn(), "d");
        assert_eq!(argv(&c)[10..], ["-v", "dst=d"]);
        let c = PgTools::default().db_info(&conn(), "it's");
        assert_eq!(argv(&c)[8..], ["-d", r"dbname='it\'s'"]);
        let c = PgTools::default().db_size(&conn(), "d");
        assert_eq!(argv(&c)[8..], ["-d", "dbname='d'"]);
        assert_eq!(
            c.get_stdin(),
            &crate::command::Stdin::Bytes(SIZE_SQL.as_bytes().to_vec())
        );
    }

    #[test]
    fn file_commands() {
        let p = Path::new;
        assert_eq!(
            argv(&tar_create(
                p("/data/filestore/prod"),
                p("/b/x.partial/filestore.tar")
            )),
            [
                "tar",
                "-C",
                "/data/filestore/prod",
                "-cf",
                "/b/x.partial/filestore.tar",
                "."
            ]
        );
        assert_eq!(
            argv(&tar_create_empty(p("/b/f.tar"))),
            ["tar", "-cf", "/b/f.tar", "--files-from", "/dev/null"]
        );
        assert_eq!(
            argv(&tar_list(p("/b/f.tar"))),
            ["tar", "--numeric-owner", "-tvf", "/b/f.tar"]
        );
        assert_eq!(
            argv(&tar_extract(p("/b/f.tar"), p("/data/filestore/new"))),
            ["tar", "-xf", "/b/f.tar", "-C", "/data/filestore/new"]
        );
        assert_eq!(
            argv(&file_sizes(p("/data/filestore/prod"))),
            [
                "find",
                "/data/filestore/prod",
                "-type",
                "f",
                "-printf",
                "%s\\n"
            ]
        );
        let d = digests(p("/b/x.partial"), ".");
        assert_eq!(d.get_current_dir(), Some(p("/b/x.partial")));
        assert_eq!(
            argv(&d),
            [
                "find",
                ".",
                "-type",
                "f",
                "!",
                "-name",
                "metadata.json",
                "-exec",
                "sha256sum",
                "--",
                "{}",
                "+"
            ]
        );
        assert_eq!(
            argv(&hardlink_copy(p("/d/fs/prod"), p("/d/fs/prod-snap"))),
            ["cp", "-al", "--", "/d/fs/prod", "/d/fs/prod-snap"]
        );
        assert_eq!(
            argv(&make_private(p("/d/fs/prod-snap"))),
            ["chmod", "700", "--", "/d/fs/prod-snap"]
        );
        assert_eq!(
            argv(&remove_all(p("/b/x.partial"))),
            ["rm", "-rf", "--", "/b/x.partial"]
        );
        let f = find_metadata(p("/b"));
        assert_eq!(f.get_current_dir(), Some(p("/b")));
        assert_eq!(
            argv(&f),
            [
                "find",
                ".",
                "-mindepth",
                "2",
                "-maxdepth",
                "2",
                "-type",
                "f",
                "-name",
                "*.json",
                "-print0"
            ]
        );
    }
}
