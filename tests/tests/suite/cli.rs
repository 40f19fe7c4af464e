//! The command line every stack binary gets, through a stack over the fake provider.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The fake stack binary run in `dir` with `args`, its secrets key set, reading nothing.
fn fake(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fake-stack"));
    command
        .args(args)
        .current_dir(dir)
        .env("IAC_PASSPHRASE", "cli test passphrase")
        .env_remove("IAC_STATE")
        .stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    fake(dir, args)
        .output()
        .expect("the fake stack binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_config(dir: &Path, body: &str) {
    std::fs::write(dir.join("fake.toml"), body).unwrap();
}

#[test]
fn preview_up_outputs_and_destroy_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(
        d,
        "name = \"dev\"\ncount = 3\npassword = \"hunter2-secret\"\n",
    );

    let p = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "changes pending: {}", text(&p));
    let out = text(&p);
    assert!(
        out.contains("+ r0 (fake:test/thing)") && out.contains("r2"),
        "{out}"
    );
    assert!(out.contains("3 to create"), "{out}");
    assert!(
        out.contains("known after apply"),
        "r1's parent is unknown until r0 exists: {out}"
    );
    assert!(
        !out.contains("hunter2-secret"),
        "secrets are redacted in the plan"
    );
    let outputs_shown = |out: &str| -> Vec<String> {
        let Some((_, after)) = out.split_once("Changes to outputs:\n") else {
            return Vec::new();
        };
        let lines = after.lines().take_while(|l| l.starts_with("  "));
        lines
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(outputs_shown(&out), ["first_id", "password"], "{out}");

    let up = run(d, &["up"]);
    assert_eq!(
        up.status.code(),
        Some(1),
        "no terminal and no --yes: {}",
        text(&up)
    );
    assert!(text(&up).contains("--yes"));

    let up = run(d, &["up", "--yes"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert!(text(&up).contains("3 created"), "{}", text(&up));
    assert!(!text(&up).contains("hunter2-secret"));

    let again = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    let outputs = run(d, &["outputs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&outputs.stdout).expect("JSON outputs");
    assert!(
        v["first_id"].as_str().is_some_and(|s| s.starts_with("r0-")),
        "{v}"
    );
    assert_eq!(v["password"], "[secret]");
    let shown = run(d, &["outputs", "password", "--show-secrets"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        "hunter2-secret"
    );

    let changed = run(
        d,
        &["preview", "--detailed-exitcode", "--set", "size=large"],
    );
    assert_eq!(changed.status.code(), Some(2));
    assert!(text(&changed).contains("3 to update"), "{}", text(&changed));
    // Updates in place change no output: the plan lists none (it listed them all).
    assert!(
        !text(&changed).contains("Changes to outputs") && !text(&changed).contains("Outputs:"),
        "{}",
        text(&changed)
    );

    // A saved plan made with `--set` keeps the names it was given, not the values, and
    // reminds an `up --plan` that lacks them; with them, it applies.
    let saved = run(
        d,
        &[
            "preview",
            "--set",
            "password=other-secret",
            "--out",
            "p.plan",
        ],
    );
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    assert_eq!(
        outputs_shown(&text(&saved)),
        ["password"],
        "{}",
        text(&saved)
    );
    let file = std::fs::read_to_string(d.join("p.plan")).unwrap();
    assert!(
        file.contains("\"password\"") && !file.contains("other-secret"),
        "{file}"
    );
    let bare = run(d, &["up", "--plan", "p.plan"]);
    assert_eq!(bare.status.code(), Some(1));
    assert!(
        text(&bare).contains("`--set password=...`") && !text(&bare).contains("other-secret"),
        "{}",
        text(&bare)
    );
    let with = run(
        d,
        &["up", "--plan", "p.plan", "--set", "password=other-secret"],
    );
    assert_eq!(with.status.code(), Some(0), "{}", text(&with));
    let back = run(d, &["up", "--yes"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));

    let list = run(d, &["state", "list"]);
    assert!(
        text(&list).contains("fake / fake:test") && text(&list).contains("r2"),
        "{}",
        text(&list)
    );
    let history = run(d, &["history", "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(
        h.as_array().map(Vec::len),
        Some(3),
        "up, up --plan, up: {h}"
    );
    let dot = run(d, &["graph"]);
    assert!(String::from_utf8_lossy(&dot.stdout).contains("\"r0\" -> \"r1\""));

    let destroyed = run(d, &["destroy", "--yes"]);
    assert_eq!(destroyed.status.code(), Some(0), "{}", text(&destroyed));
    assert!(
        !text(&destroyed).contains("Outputs:"),
        "a destroy shows no outputs of what it deleted: {}",
        text(&destroyed)
    );
    let after = run(d, &["outputs", "--json"]);
    assert_eq!(String::from_utf8_lossy(&after.stdout).trim(), "{}");
    let cloud: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("fake-cloud.json")).unwrap()).unwrap();
    assert_eq!(cloud["objects"], serde_json::json!({}));
    let bytes = iac_tests::state_file_bytes(&d.join(".iac/state.db"));
    assert!(!bytes.windows(14).any(|w| w == b"hunter2-secret"));
}

#[test]
fn bad_configuration_is_reported_whole_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 5000\nsize = \"\"\n");
    let p = run(d, &["up", "--yes"]);
    assert_eq!(p.status.code(), Some(1));
    let out = text(&p);
    assert!(
        out.contains("`count`") && out.contains("`size`"),
        "both problems at once: {out}"
    );
    assert!(!d.join(".iac").exists(), "no state file was created");

    write_config(d, "name = \"dev\"\ncount = 1\ncolour = \"red\"\n");
    let p = run(d, &["preview"]);
    assert_eq!(p.status.code(), Some(1));
    assert!(text(&p).contains("colour"), "{}", text(&p));

    // A wrong value is shown at its own line of the file, with or without a `--set`...
    write_config(d, "# the fake stack\n\nname = \"dev\"\ncount = \"three\"\n");
    for args in [&["preview"][..], &["preview", "--set", "name=prod"]] {
        let p = run(d, args);
        assert_eq!(p.status.code(), Some(1));
        assert!(
            text(&p).contains("fake.toml") && text(&p).contains("`count`"),
            "{args:?}: {}",
            text(&p)
        );
        assert!(text(&p).contains("line 4"), "{args:?}: {}", text(&p));
        assert!(
            !text(&p).contains("line 1,"),
            "never the merged text's line: {}",
            text(&p)
        );
    }
    // ...and one given by `--set` is named as such, not as the file's.
    write_config(d, "name = \"dev\"\ncount = 1\n");
    let p = run(d, &["preview", "--set", "count=\"three\""]);
    assert_eq!(p.status.code(), Some(1));
    assert!(text(&p).contains("--set `count`"), "{}", text(&p));
    assert!(!text(&p).contains("fake.toml"), "{}", text(&p));

    let p = run(d, &["preview", "--config", "missing.toml"]);
    assert_eq!(p.status.code(), Some(1));
    assert!(text(&p).contains("missing.toml"));

    write_config(d, "name = \"dev\"\ncount = 1\n");
    let p = run(d, &["preview", "--set", "count=many"]);
    assert_eq!(p.status.code(), Some(1));
    assert!(text(&p).contains("count"), "{}", text(&p));
    // A `--set` before the command counts as much as one after it: clap alone would keep
    // only those after, and this bad value would go unseen.
    let p = run(d, &["--set", "count=many", "preview", "--set", "name=dev"]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(text(&p).contains("count"), "{}", text(&p));
}

#[test]
fn ctrl_c_finishes_running_steps_records_them_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 20\ndelay_ms = 150\n");
    let child = spawn_up(d);
    // Let a few steps finish, then interrupt as a terminal's Ctrl-C would.
    wait_until_working(d);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains("Interrupted"), "{}", text(&out));

    let list = run(d, &["state", "list", "--json"]);
    let recorded = serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert!(recorded > 0 && recorded < 20, "{recorded} recorded");
    // The lock was released and nothing is pending: the next run simply finishes.
    let again = run(d, &["up", "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("{} created", 20 - recorded)),
        "{}",
        text(&again)
    );
    assert!(
        !text(&again).contains("reconciled"),
        "running steps were recorded, not left as intents"
    );
}

#[test]
fn bad_declarations_exit_1_naming_every_resource_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 2\nbroken = true\n");
    for args in [&["preview"][..], &["up", "--yes"][..]] {
        let p = run(d, args);
        assert_eq!(p.status.code(), Some(1), "{}", text(&p));
        let out = text(&p);
        assert!(out.contains("`r0` is declared more than once"), "{out}");
        assert!(out.contains("orphan refers to `ghost`"), "{out}");
    }
    assert!(!d.join(".iac").exists(), "no state file was created");
    assert!(
        !d.join("fake-cloud.json").exists(),
        "no provider call was made"
    );
}

fn spawn_up(dir: &Path) -> std::process::Child {
    fake(dir, &["up", "--yes", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has recorded at least one resource (so it holds the lock and is
/// in the middle of its work).
fn wait_until_working(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let cloud = std::fs::read_to_string(dir.join("fake-cloud.json")).unwrap_or_default();
        if cloud.contains("\"r0\"") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the run never started creating");
}

#[test]
fn a_run_killed_with_sigkill_never_blocks_the_next_and_a_live_one_is_never_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 20\ndelay_ms = 150\n");
    let mut child = spawn_up(d);
    wait_until_working(d);

    // While it runs: a second `up` is refused naming the live holder, and force-unlock
    // does not take its lock away.
    let second = run(d, &["up", "--yes"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let pid = child.id().to_string();
    assert!(
        text(&second).contains("locked by") && text(&second).contains(&format!("pid {pid}")),
        "{}",
        text(&second)
    );
    let unlock = run(d, &["state", "force-unlock"]);
    assert_ne!(unlock.status.code(), Some(0), "{}", text(&unlock));
    assert!(text(&unlock).contains("still going"), "{}", text(&unlock));

    // SIGKILL: no code of the run executes after this.
    child.kill().unwrap();
    child.wait().unwrap();

    // Before anyone runs again, the history calls the dead run interrupted (not running),
    // and a preview says what it left unfinished.
    let table = text(&run(d, &["history"]));
    assert!(
        table.contains("interrupted") && !table.contains("running"),
        "{table}"
    );
    let rows = run(d, &["history", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0]["result"], "interrupted", "{rows}");
    let shown = text(&run(d, &["preview"]));
    assert!(shown.contains("An earlier run left"), "{shown}");

    // No person does anything: a plain `up` runs, reconciles and finishes. It says what
    // it reconciled before its plan, once.
    let again = run(d, &["up", "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let said = text(&again);
    let reconciled = said.find("An interrupted run left").expect(&said);
    assert!(reconciled < said.find("Plan:").expect(&said), "{said}");
    assert!(
        !said.contains("operation(s) an interrupted run left"),
        "{said}"
    );
    // The killed run is in the history as interrupted, with what it did before it died
    // (the objects the next run adopted for it included): the two made the 20 between
    // them.
    let history = run(d, &["history", "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(h[0]["result"], "interrupted", "{h}");
    assert_eq!(h[1]["result"], "succeeded", "{h}");
    let created = |i: usize| h[i]["counts"]["created"].as_u64().expect("counted");
    assert!(created(0) >= 1, "{h}");
    assert_eq!(created(0) + created(1), 20, "{h}");
    let table = text(&run(d, &["history"]));
    assert!(
        table.contains("interrupted") && table.contains(" UTC "),
        "{table}"
    );
    assert!(
        table.contains(&format!("+{} ~0", created(0))),
        "the killed run's changes: {table}"
    );
    let list = run(d, &["state", "list", "--json"]);
    let recorded = serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(recorded, 20);
    assert_cloud_whole(d, 20);
    let preview = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview));
}

/// The fake cloud after the runs: every object made once, none missing.
pub(crate) fn assert_cloud_whole(dir: &Path, count: usize) {
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fake-cloud.json")).unwrap())
            .unwrap();
    assert_eq!(
        cloud["objects"].as_object().unwrap().len(),
        count,
        "no orphan, nothing missing"
    );
    assert!(
        cloud["creates"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n == 1),
        "nothing created twice: {}",
        cloud["creates"]
    );
}

#[test]
fn a_preview_of_a_stack_without_state_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(
        d,
        "name = \"dev\"\ncount = 3\npassword = \"hunter2-secret\"\n",
    );
    let p = run(d, &["preview"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert!(text(&p).contains("3 to create"), "{}", text(&p));
    let mut written: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["fake.toml"],
        "no state file, no key file, no folder"
    );
    // Without a passphrase the key file would be made on first use: still not by preview.
    let p = fake(d, &["preview"])
        .env_remove("IAC_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert!(!d.join(".iac").exists());
}

/// `history --timeline` draws the last deployment that changed anything as an SVG that
/// parses, with a bar per step, each resource named, and the critical path marked; a
/// deployment that does not exist is refused by number.
#[test]
fn history_draws_a_deployment_as_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 5\ndelay_ms = 20\n");
    let up = run(d, &["up", "--yes"]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(text(&up).contains("on the critical path"), "{}", text(&up));
    // A run that changes nothing is not what gets drawn.
    assert!(run(d, &["up", "--yes"]).status.success());

    let file = d.join("timeline.svg");
    let drawn = run(d, &["history", "--timeline", file.to_str().unwrap()]);
    assert!(drawn.status.success(), "{}", text(&drawn));
    assert!(
        text(&drawn).contains("deployment #1 (5 steps)"),
        "{}",
        text(&drawn)
    );
    let svg = std::fs::read_to_string(&file).unwrap();
    let doc = parse_svg(&svg);
    let titles = titles(&doc);
    assert_eq!(titles.len(), 5, "{titles:?}");
    for i in 0..5 {
        assert!(
            titles
                .iter()
                .any(|t| t.starts_with(&format!("r{i}: create"))),
            "r{i} has a bar: {titles:?}"
        );
    }
    // The fake stack is one chain: every bar is on the critical path.
    let critical = doc
        .descendants()
        .filter(|n| n.attribute("fill") == Some("#f76707"))
        .count();
    assert_eq!(critical, 5);

    let missing = run(
        d,
        &[
            "history",
            "--timeline",
            file.to_str().unwrap(),
            "--deployment",
            "42",
        ],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing).contains("no deployment #42"),
        "{}",
        text(&missing)
    );
}

/// `graph --format svg` draws every declared resource, in a well-formed SVG, with an edge
/// per dependency; the default stays DOT.
#[test]
fn graph_draws_every_resource_as_svg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 4\n");
    let drawn = run(d, &["graph", "--format", "svg"]);
    assert!(drawn.status.success(), "{}", text(&drawn));
    let svg = String::from_utf8(drawn.stdout).unwrap();
    let doc = parse_svg(&svg);
    let titles = titles(&doc);
    for i in 0..4 {
        assert!(
            titles.iter().any(|t| t.starts_with(&format!("r{i} ("))),
            "r{i} is drawn: {titles:?}"
        );
    }
    let edges = doc.descendants().filter(|n| n.has_tag_name("path")).count();
    assert_eq!(edges, 3, "one edge per link of the chain");
    let dot = run(d, &["graph"]);
    assert!(String::from_utf8_lossy(&dot.stdout).starts_with("digraph"));
}

/// An SVG document that must parse, with an `<svg>` root.
fn parse_svg(svg: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).expect("the picture is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc
}

/// The hover titles of a picture: one per resource or step drawn.
fn titles<'a>(doc: &'a roxmltree::Document<'_>) -> Vec<&'a str> {
    doc.descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect()
}

/// A stack reference through the CLI: `preview` shows what it read with the secret
/// masked; the plan saved with `--out` holds no secret and `up --plan` applies it once,
/// then refuses it naming what moved.
#[test]
fn a_reference_is_previewed_masked_and_a_saved_plan_applies_once() {
    const SECRET: &str = "upstream-pw-5d1c7e";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stack = |body: &str, args: &[&str]| {
        write_config(d, body);
        run(d, args)
    };
    let upstream = format!("name = \"net\"\ncount = 1\npassword = \"{SECRET}\"\n");
    let app = "name = \"app\"\ncount = 2\nreads = \"net\"\n";

    let missing = stack(app, &["preview"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("stack `fake/net` is not recorded"),
        "{}",
        text(&missing)
    );

    let up = stack(&upstream, &["up", "--yes"]);
    assert!(up.status.success(), "{}", text(&up));
    let p = stack(app, &["preview", "--out", "plan.json"]);
    let shown = text(&p);
    assert!(p.status.success(), "{shown}");
    assert!(shown.contains("Reads stack fake/net"), "{shown}");
    assert!(shown.contains("password  \"[secret]\""), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    let file = std::fs::read_to_string(d.join("plan.json")).unwrap();
    assert!(!file.contains(SECRET), "{file}");
    assert!(file.contains("[secret]"), "{file}");

    let applied = stack(app, &["up", "--plan", "plan.json"]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(text(&applied).contains("2 created"), "{}", text(&applied));
    let again = stack(app, &["up", "--plan", "plan.json"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains("the state changed since the plan was made: output:first_id, r0, r1"),
        "{}",
        text(&again)
    );
}

/// Runs the fake stack with standard output and standard error already closed at their
/// far end, as `stack ... 2>&1 | head -0` leaves them: every write fails with EPIPE.
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> std::process::ExitStatus {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let err = writer.try_clone().unwrap();
    fake(dir, args).stdout(writer).stderr(err).status().unwrap()
}

#[test]
fn a_closed_output_pipe_never_stops_a_command_halfway() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 4\n");
    // `up | head` used to panic on its first line of output, before deploying anything.
    let up = run_into_closed_pipe(d, &["up", "--yes"]);
    assert_eq!(up.code(), Some(0), "up carries on to its end");
    let history = run(d, &["history", "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(h[0]["result"], "succeeded", "{h}");
    assert_eq!(h[0]["counts"]["created"], 4, "{h}");
    let list = run(d, &["state", "list"]);
    assert!(text(&list).contains("r3"), "{}", text(&list));
    for args in [
        &["state", "list"][..],
        &["history"],
        &["outputs"],
        &["preview"],
        &["graph", "--format", "svg"],
    ] {
        let status = run_into_closed_pipe(d, args);
        assert_eq!(
            status.code(),
            Some(0),
            "{args:?} exits as it would into a terminal"
        );
    }
    // An error still exits 1 (its message is lost with the pipe).
    let bad = run_into_closed_pipe(d, &["preview", "--set", "count=many"]);
    assert_eq!(bad.code(), Some(1));
}

/// `state delete` forgets a resource and says how to adopt its object again; `import`
/// does, after which nothing is to change; neither takes a name it cannot.
#[test]
fn state_delete_then_import_adopts_the_object_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, "name = \"dev\"\ncount = 3\n");
    assert_eq!(run(d, &["up", "--yes"]).status.code(), Some(0));
    let shown = run(d, &["--json", "state", "show", "r1"]);
    let record: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let object = record["id"].as_str().expect("an id").to_string();

    let forgot = run(d, &["state", "delete", "r1"]);
    assert_eq!(forgot.status.code(), Some(0), "{}", text(&forgot));
    let hint = format!("import r1 {object}");
    assert!(text(&forgot).contains(&hint), "{}", text(&forgot));
    let p = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(
        p.status.code(),
        Some(2),
        "r1 would be created: {}",
        text(&p)
    );

    let imported = run(d, &["import", "r1", &object]);
    assert_eq!(imported.status.code(), Some(0), "{}", text(&imported));
    let p = run(d, &["preview", "--detailed-exitcode"]);
    assert_eq!(
        p.status.code(),
        Some(0),
        "adopted as declared: {}",
        text(&p)
    );

    let again = run(d, &["import", "r1", &object]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "already recorded: {}",
        text(&again)
    );
    for bad in ["", "a/b", "dev prod"] {
        let p = run(d, &["--stack", bad, "state", "list"]);
        assert_eq!(p.status.code(), Some(1), "{bad:?}: {}", text(&p));
        assert!(text(&p).contains("`--stack`"), "{}", text(&p));
    }
    let unknown = run(d, &["state", "delete", "r9"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).contains("r9"), "{}", text(&unknown));
}

/// A state file sealed with its own key file, migrated to another file, opens there with
/// no more said: the key is copied beside the copy (mode 0600), where `--state` looks.
#[test]
fn a_migrated_state_file_finds_its_key_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(
        d,
        "name = \"dev\"\ncount = 2\npassword = \"hunter2-secret\"\n",
    );
    let keyless = |args: &[&str]| {
        fake(d, args)
            .env_remove("IAC_PASSPHRASE")
            .env_remove("IAC_KEY_FILE")
            .output()
            .unwrap()
    };
    assert_eq!(keyless(&["up", "--yes"]).status.code(), Some(0));
    assert!(d.join(".iac/state.db.key").exists());
    let moved = keyless(&["state", "migrate", "--to", "copy.db"]);
    assert_eq!(moved.status.code(), Some(0), "{}", text(&moved));
    assert!(
        text(&moved).contains("copied to copy.db.key"),
        "{}",
        text(&moved)
    );
    let key = std::fs::metadata(d.join("copy.db.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    let shown = keyless(&[
        "--state",
        "copy.db",
        "outputs",
        "password",
        "--show-secrets",
    ]);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        "hunter2-secret"
    );
}
