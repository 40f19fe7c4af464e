//! The documentation's state-inspection examples run against a real state file, so the
//! docs cannot drift from the schema: every `sqlite3` command of README.md's "Inspecting
//! state" section and of `state/STATE.md`, and STATE.md's tables of columns.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

/// A `sqlite3 <file> '<sql>'` command found in a document.
#[derive(Debug)]
struct SqliteCommand {
    file: String,
    sql: String,
}

/// Every `sqlite3 FILE 'SQL'` (or `"SQL"`, which may span lines) in `text`.
fn sqlite_commands(text: &str) -> Vec<SqliteCommand> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("sqlite3 ") {
        let after = rest[at + "sqlite3 ".len()..].trim_start();
        let file_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let file = &after[..file_end];
        let args = after[file_end..].trim_start();
        let quote = args.chars().next().filter(|c| *c == '\'' || *c == '"');
        match quote {
            Some(q) => {
                let body = &args[1..];
                let end = body
                    .find(q)
                    .unwrap_or_else(|| panic!("an unterminated query after `sqlite3 {file}`"));
                found.push(SqliteCommand {
                    file: file.to_string(),
                    sql: body[..end].to_string(),
                });
                rest = &body[end + 1..];
            }
            // `sqlite3 .iac/state.db` alone: the interactive tool, no query to run.
            None => rest = args,
        }
    }
    found
}

/// The text of the section under the `## heading` of `text`, up to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section `## {heading}`"));
    let body = &text[start + heading.len() + 5..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}

/// A state file made by the `fake-stack` binary at `dir/.iac/state.db` (the documented
/// default path): three resources with a secret output, one deployment, its journal.
fn fake_state(dir: &Path) {
    std::fs::write(
        dir.join("fake.toml"),
        "name = \"docs\"\ncount = 3\npassword = \"docs-secret\"\n",
    )
    .unwrap();
    let up = Command::new(env!("CARGO_BIN_EXE_fake-stack"))
        .args(["up", "--yes"])
        .current_dir(dir)
        .env("IAC_PASSPHRASE", "docs test passphrase")
        .env_remove("IAC_STATE")
        .stdin(Stdio::null())
        .output()
        .expect("the fake stack binary runs");
    assert!(
        up.status.success(),
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(dir.join(".iac/state.db").is_file());
}

/// Runs `sql` on the state file in `dir`, returning every row as text.
fn query(dir: &Path, command: &SqliteCommand) -> Vec<Vec<String>> {
    assert_eq!(
        command.file, ".iac/state.db",
        "the docs query the default state file"
    );
    let db = rusqlite::Connection::open(dir.join(&command.file)).unwrap();
    let mut statement = db
        .prepare(&command.sql)
        .unwrap_or_else(|e| panic!("the documented query\n{}\nfails: {e}", command.sql));
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    let value: rusqlite::types::Value = row.get(i)?;
                    Ok(format!("{value:?}"))
                })
                .collect()
        })
        .unwrap_or_else(|e| panic!("the documented query\n{}\nfails: {e}", command.sql))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the documented query\n{}\nfails: {e}", command.sql))
}

fn read_doc(path: &str) -> String {
    std::fs::read_to_string(iac_tests::repo_root().join(path)).unwrap()
}

#[test]
fn the_readme_state_inspection_queries_run() {
    let dir = tempfile::tempdir().unwrap();
    fake_state(dir.path());
    let readme = read_doc("README.md");
    let commands = sqlite_commands(section(&readme, "Inspecting state"));
    assert!(!commands.is_empty(), "the section shows a query");
    for command in &commands {
        let rows = query(dir.path(), command);
        if command.sql.contains("from resources") {
            assert_eq!(rows.len(), 3, "one row per resource: {rows:?}");
        }
    }
}

#[test]
fn the_state_md_queries_run_and_its_tables_match_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    fake_state(dir.path());
    let doc = read_doc("state/STATE.md");
    let commands = sqlite_commands(&doc);
    assert!(commands.len() >= 2, "{commands:?}");
    for command in &commands {
        let rows = query(dir.path(), command);
        if command.sql.contains("from resources") {
            assert_eq!(rows.len(), 3, "one row per resource: {rows:?}");
            assert!(
                rows.iter()
                    .all(|r| r[0].contains("fake/docs") && r.len() == 5),
                "{rows:?}"
            );
        }
    }

    // Each `## table` section's `| column | meaning |` table names the table's columns.
    let db = rusqlite::Connection::open(dir.path().join(".iac/state.db")).unwrap();
    let mut tables: Vec<String> = db
        .prepare("select name from sqlite_master where type = 'table' order by name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.retain(|t| !t.starts_with("sqlite_"));
    let mut documented = Vec::new();
    for table in &tables {
        let body = section(&doc, table);
        let mut named = BTreeSet::new();
        let mut in_table = false;
        for line in body.lines() {
            if line.starts_with("| column |") {
                in_table = true;
            } else if in_table && line.starts_with('|') && !line.starts_with("|---") {
                let cell = line.split('|').nth(1).unwrap();
                named.extend(cell.split(',').map(|c| c.trim().to_string()));
            } else if in_table && !line.starts_with('|') {
                break;
            }
        }
        let actual: BTreeSet<String> = db
            .prepare(&format!("select name from pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(named, actual, "STATE.md's columns of `{table}`");
        documented.push(table.clone());
    }
    assert!(documented.len() >= 7, "{documented:?}");

    // The schema version it names, and the index it names.
    let version: i64 = db
        .query_row("pragma user_version", [], |r| r.get(0))
        .unwrap();
    assert!(
        doc.contains(&format!("(currently {version})")),
        "STATE.md names schema version {version}"
    );
    let pending: i64 = db
        .query_row(
            "select count(*) from sqlite_master where type = 'index' and name = 'journal_pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 1, "the index STATE.md names exists");
}

#[test]
fn the_command_parser_finds_single_double_and_multi_line_queries() {
    let text = "a `sqlite3 .iac/state.db 'select 1'` b\n\
                sqlite3 .iac/state.db \"select 2\n   from t\"   # note\n\
                `sqlite3 .iac/state.db` alone\n";
    let found = sqlite_commands(text);
    let sql: Vec<&str> = found.iter().map(|c| c.sql.as_str()).collect();
    assert_eq!(sql, ["select 1", "select 2\n   from t"]);
    assert!(found.iter().all(|c| c.file == ".iac/state.db"));
}
