//! `flavor watch` as a real process on copies of `examples/hello` and `examples/monorepo` in
//! a sandbox (own `HOME`, XDG directories and caches; a seed key), driven through the files
//! it watches and observed through its `--json` events and the packages it installs.
//!
//! Waits poll with a generous deadline ([`DEADLINE`]); nothing asserts on timing. The only
//! fixed waits are quiet windows ("this must not trigger a rebuild").

use serde_json::Value;
use std::fs;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};
use support::project::Project;
use support::{files_under, line_channel, send_signal, start};

/// How long any awaited event may take to arrive (a hang guard, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(60);

/// `examples/hello` plus a file slot (`notes.txt` → `share/notes.txt`), signed with a seed.
fn hello() -> Project {
    let p = Project::example("hello");
    p.write("notes.txt", "first notes\n");
    p.append(
        "flavor.toml",
        "\n[[slot]]\nid = \"notes\"\nsource = \"notes.txt\"\ntarget = \"share/notes.txt\"\n",
    );
    p.sign_with_seed();
    p
}

/// The hello script, printing `line` instead of its greeting.
fn script(line: &str) -> String {
    format!("#!/bin/sh\necho \"{line}\"\n")
}

/// What the installed hello package prints.
fn output(p: &Project) -> String {
    p.run_package("dist/debug/hello.psp", &[])
        .ok()
        .stdout
        .clone()
}

/// File `rel` of the installed hello package, unpacked by `flavor extract-all`.
fn extracted(p: &Project, rel: &str) -> String {
    let dir = p.sandbox.path("extracted");
    let _ = fs::remove_dir_all(&dir);
    p.flavor(&["extract-all", "dist/debug/hello.psp", dir.to_str().unwrap()])
        .ok();
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Whether `value`, as JSON text, mentions every one of `words`.
fn mentions(value: &Value, words: &[&str]) -> bool {
    words.iter().all(|w| value.to_string().contains(w))
}

/// A step `id` running `<id>.sh` (`script`), which writes `out/<id>`, shipped at
/// `{workenv}/out/<id>` (`out/` is gitignored).
fn add_step(p: &Project, id: &str, script: &str) {
    p.write(&format!("{id}.sh"), script);
    p.write(".gitignore", "/out/\n");
    p.append(
        "flavor.toml",
        &format!(
            "\n[[step]]\nid = \"{id}\"\ncommand = \"sh {id}.sh\"\ninputs = [\"{id}.sh\"]\n\
             outputs = [\"out/{id}\"]\n\n[[slot]]\nid = \"{id}\"\nstep = \"{id}\"\ntarget = \".\"\n"
        ),
    );
}

/// An unknown key in `[package]` (or, with `on = false`, not any more).
fn unknown_key(p: &Project, on: bool) {
    let (plain, broken) = ("[package]\n", "[package]\ncolour = \"blue\"\n");
    let (from, to) = if on { (plain, broken) } else { (broken, plain) };
    p.replace("flavor.toml", from, to);
}

const OUT: usize = 0;
const ERR: usize = 1;

/// A running `flavor watch` and what it printed (`lines[OUT]`, `lines[ERR]`); killed on drop,
/// so a failing test never leaves a watcher behind.
struct Watch {
    child: Child,
    streams: [Receiver<String>; 2],
    lines: [Vec<String>; 2],
    /// How many lines of each stream a `next` has consumed.
    seen: [usize; 2],
}

impl Watch {
    /// `flavor watch ARGS` in `<root>/<dir>`.
    fn start(p: &Project, dir: &str, args: &[&str]) -> Watch {
        let mut child = start(&mut p.command(dir, &[&["watch"], args].concat()));
        let streams = [
            line_channel(child.stdout.take().expect("stdout")),
            line_channel(child.stderr.take().expect("stderr")),
        ];
        let (lines, seen) = (Default::default(), [0, 0]);
        Watch {
            child,
            streams,
            lines,
            seen,
        }
    }

    /// `flavor watch --json ARGS` in `<root>/<dir>`, past its initial build (returned) and its
    /// `watching` event.
    fn json(p: &Project, dir: &str, args: &[&str]) -> (Watch, Value) {
        let mut w = Watch::start(p, dir, &[&["--json"], args].concat());
        let initial = w.rebuild();
        assert_eq!(initial["changed"], serde_json::json!([]), "{initial}");
        w.event("the `watching` event", |e| e["event"] == "watching");
        (w, initial)
    }

    /// Collect what arrived, then pause a little; false once both streams are closed.
    fn pump(&mut self) -> bool {
        let mut open = false;
        for (rx, lines) in self.streams.iter().zip(&mut self.lines) {
            loop {
                match rx.try_recv() {
                    Ok(line) => lines.push(line),
                    Err(TryRecvError::Empty) => break open = true,
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        open
    }

    fn transcript(&self) -> String {
        let [out, err] = &self.lines;
        format!("stdout:\n{}\nstderr:\n{}", out.join("\n"), err.join("\n"))
    }

    /// The first value `pick` finds in the next lines of `stream`.
    fn next<T>(&mut self, stream: usize, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let (began, mut open) = (Instant::now(), true);
        loop {
            while self.seen[stream] < self.lines[stream].len() {
                self.seen[stream] += 1;
                if let Some(found) = pick(&self.lines[stream][self.seen[stream] - 1]) {
                    return found;
                }
            }
            assert!(
                open && began.elapsed() < DEADLINE,
                "gave up waiting for {what}\n{}",
                self.transcript()
            );
            open = self.pump();
        }
    }

    /// The next stdout JSON event matching `pred` (other lines and events are passed over).
    fn event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.next(OUT, what, |l| serde_json::from_str(l).ok().filter(&pred))
    }

    /// The next stderr line containing `text`.
    fn stderr_line(&mut self, text: &str) -> String {
        self.next(ERR, text, |l| l.contains(text).then(|| l.to_string()))
    }

    /// The next `rebuild` event.
    fn rebuild(&mut self) -> Value {
        self.event("a `rebuild` event", |e| e["event"] == "rebuild")
    }

    /// The next `rebuild` event, which must be a success.
    fn rebuilt(&mut self) -> Value {
        let e = self.rebuild();
        assert_eq!(e["ok"], true, "{e}\n{}", self.transcript());
        e
    }

    /// The `rebuild` events that arrive within `window` (a quiet-window check).
    fn rebuilds_within(&mut self, window: Duration) -> Vec<Value> {
        let began = Instant::now();
        while began.elapsed() < window {
            self.pump();
        }
        let rest = &self.lines[OUT][self.seen[OUT]..];
        let events = rest
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok());
        let found = events.filter(|e| e["event"] == "rebuild").collect();
        self.seen[OUT] = self.lines[OUT].len();
        found
    }

    fn assert_alive(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "watcher exited: {status:?}\n{}",
            self.transcript()
        );
    }

    /// Ctrl-C; waits for the process to end and its pipes to close.
    fn interrupt(&mut self) -> ExitStatus {
        send_signal(self.child.id(), "INT");
        let began = Instant::now();
        while self.child.try_wait().expect("try_wait").is_none() || self.pump() {
            assert!(began.elapsed() < DEADLINE, "still running after SIGINT");
            self.pump();
        }
        self.child.wait().expect("wait")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `changed` of a rebuild event.
fn changed(e: &Value) -> Vec<String> {
    serde_json::from_value(e["changed"].clone()).expect("changed: a list of paths")
}

#[test]
fn an_edit_rebuilds_only_what_it_affects_and_the_package_has_it() {
    let p = hello();
    let (mut w, initial) = Watch::json(&p, "", &[]);
    assert_eq!(initial["ok"], true, "{initial}");
    assert!(initial["built"].as_u64().unwrap() > 0, "{initial}");
    let pkg = p.path("dist/debug/hello.psp");
    assert_eq!(initial["packages"], serde_json::json!([pkg]));
    output(&p);

    p.write("src/hello.sh", &script("edited once"));
    let e = w.rebuilt();
    assert_eq!(changed(&e), ["src/hello.sh"]);
    assert_eq!(e["packages"], serde_json::json!([pkg]));
    assert_eq!(output(&p), "edited once\n");

    // The notes file feeds the package only: the `src` slot's actions come from the cache.
    p.write("notes.txt", "second notes\n");
    let e = w.rebuilt();
    assert_eq!(changed(&e), ["notes.txt"]);
    let (built, cached) = (e["built"].as_u64().unwrap(), e["cached"].as_u64().unwrap());
    assert!(built > 0 && cached > 0, "{e}");
    assert_eq!(Some(built + cached), initial["built"].as_u64(), "{initial}");
}

#[test]
fn ten_rapid_edits_make_far_fewer_rebuilds_and_the_last_wins() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    for i in 1..=10 {
        p.write("src/hello.sh", &script(&format!("edit {i}")));
    }
    let mut rebuilds = 0;
    loop {
        w.rebuilt();
        rebuilds += 1;
        let out = output(&p);
        if out == "edit 10\n" {
            break;
        }
        assert!(rebuilds < 10, "ten rebuilds and still {out:?}");
    }
    rebuilds += w.rebuilds_within(Duration::from_secs(2)).len();
    assert!(
        rebuilds <= 3,
        "{rebuilds} rebuilds for a burst of ten edits"
    );
    assert_eq!(output(&p), "edit 10\n");
}

#[test]
fn a_broken_manifest_is_reported_the_watcher_waits_and_the_fix_builds() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    unknown_key(&p, true);
    let e = w.event("a manifest error", |e| e["event"] == "manifest_error");
    assert!(mentions(&e["messages"], &["colour"]), "{e}");
    w.assert_alive();
    // Another source edit while the manifest is broken is not a crash either.
    p.write("src/hello.sh", &script("after the fix"));
    w.event("another manifest error", |e| e["event"] == "manifest_error");
    w.assert_alive();
    unknown_key(&p, false);
    w.rebuilt();
    assert_eq!(output(&p), "after the fix\n");
}

#[test]
fn diagnostics_and_rebuild_lines_go_to_stderr_without_json() {
    let p = hello();
    let mut w = Watch::start(&p, "", &[]);
    w.stderr_line("[initial build] rebuilt");
    w.stderr_line("watching");
    p.write("src/hello.sh", &script("human"));
    let line = w.stderr_line("[src/hello.sh] rebuilt");
    assert!(line.contains("dist/debug/hello.psp"), "{line}");
    unknown_key(&p, true);
    w.stderr_line("colour");
    w.stderr_line("fix the manifest");
    w.assert_alive();
    unknown_key(&p, false);
    w.stderr_line("[flavor.toml] rebuilt");
    assert!(w.lines[OUT].is_empty(), "{}", w.transcript());
}

#[test]
fn a_deleted_slot_source_is_a_clear_error_and_restoring_it_builds() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    fs::remove_file(p.path("notes.txt")).unwrap();
    let e = w.event("a missing-source error", |e| e["event"] == "manifest_error");
    assert!(mentions(&e, &["notes.txt", "does not exist"]), "{e}");
    w.assert_alive();
    p.write("notes.txt", "second notes\n");
    w.rebuilt();
    assert_eq!(extracted(&p, "share/notes.txt"), "second notes\n");
}

#[test]
fn a_new_file_in_a_directory_slot_is_in_the_next_package() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    p.write("src/extra.txt", "new file\n");
    let e = w.rebuilt();
    assert_eq!(changed(&e), ["src/extra.txt"]);
    assert_eq!(extracted(&p, "bin/extra.txt"), "new file\n");
}

#[test]
fn writes_to_dist_and_the_build_cache_never_trigger_a_rebuild() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    p.write("src/hello.sh", &script("one"));
    w.rebuilt();
    for rel in ["dist/x", "dist/sub/y", ".flavor/x", ".flavor/cache/x"] {
        p.write(rel, "not a source\n");
    }
    let spurious = w.rebuilds_within(Duration::from_secs(3));
    assert!(spurious.is_empty(), "{spurious:?}");
    // Control: a real edit still rebuilds, and names nothing but the edited file.
    p.write("src/hello.sh", &script("two"));
    assert_eq!(changed(&w.rebuilt()), ["src/hello.sh"]);
}

#[test]
fn a_failing_step_prints_its_output_and_the_watcher_waits() {
    let p = hello();
    add_step(&p, "gen", "mkdir -p out && echo generated > out/gen\n");
    let (mut w, initial) = Watch::json(&p, "", &[]);
    assert_eq!(initial["ok"], true, "{initial}\n{}", w.transcript());
    p.write("gen.sh", "echo 'gen broke on purpose'\nexit 3\n");
    let failed = w.event("the step's failure", |e| e["event"] == "failed");
    assert_eq!(failed["label"], "step gen");
    assert!(
        mentions(&failed["output"], &["gen broke on purpose"]),
        "{failed}"
    );
    let e = w.rebuild();
    assert!(e["ok"] == false && e["failed"] == 1, "{e}");
    w.assert_alive();
    p.write("gen.sh", "mkdir -p out && echo regenerated > out/gen\n");
    w.rebuilt();
    assert_eq!(extracted(&p, "out/gen"), "regenerated\n");
}

#[test]
fn run_restarts_the_package_after_each_rebuild() {
    let p = hello();
    let log = p.sandbox.path("runs.log");
    let long_running = |v: &str| {
        format!(
            "#!/bin/sh\necho \"start {v} $1\" >> '{log}'\necho \"package says {v}\"\n\
             trap 'echo \"stop {v}\" >> \"{log}\"; kill $pid; exit 0' TERM\n\
             sleep 60 & pid=$!\nwait\n",
            log = log.display()
        )
    };
    p.write("src/hello.sh", &long_running("v1"));
    let (mut w, _) = Watch::json(&p, "", &["--run", "--", "world"]);
    let log_has = |w: &mut Watch, line: &str| {
        let began = Instant::now();
        while !fs::read_to_string(&log).unwrap_or_default().contains(line) {
            assert!(began.elapsed() < DEADLINE, "no {line:?} in the run log");
            w.pump();
        }
    };
    log_has(&mut w, "start v1 world\n");
    // With --json, the package's stdout goes to stderr: stdout stays one event per line.
    w.stderr_line("package says v1");
    p.write("src/hello.sh", &long_running("v2"));
    w.rebuilt();
    log_has(&mut w, "start v2 world\n");
    assert_eq!(w.interrupt().code(), Some(0), "{}", w.transcript());
    log_has(&mut w, "stop v2\n");
    let runs = fs::read_to_string(&log).unwrap();
    assert_eq!(runs, "start v1 world\nstop v1\nstart v2 world\nstop v2\n");
    for line in &w.lines[OUT] {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not an event on stdout: {line:?}\n{}",
            w.transcript()
        );
    }
}

#[test]
fn sigint_stops_cleanly_without_temp_files_and_leaves_a_usable_cache() {
    let p = hello();
    let (mut w, _) = Watch::json(&p, "", &[]);
    // Interrupt right after an edit, so a build may well be running.
    p.write("src/hello.sh", &script("interrupted"));
    std::thread::sleep(Duration::from_millis(60));
    let status = w.interrupt();
    assert_eq!(status.code(), Some(0), "{}", w.transcript());
    let last = w.lines[OUT].last().expect("a last event");
    assert!(last.contains(r#""event":"stopped""#), "{}", w.transcript());
    let leftovers: Vec<_> = files_under(&p.sandbox.path(""))
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(".flavor-install-") || name.starts_with(".flavor-write-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    p.build(&[]);
    assert_eq!(output(&p), "interrupted\n");
}

#[test]
fn a_workspace_member_follows_shared_files_and_its_own_gitignore() {
    let p = Project::example("monorepo");
    p.sign_with_seed();
    let (mut w, initial) = Watch::json(&p, "apps/stamp", &[]);
    let stamp = p.path("apps/stamp/dist/debug/stamp.psp");
    assert_eq!(initial["packages"], serde_json::json!([stamp]), "{initial}");
    p.append("shared/lib/say.sh", "echo 'from the shared lib'\n");
    assert_eq!(changed(&w.rebuilt()), ["shared/lib/say.sh"]);
    let run = p.run_package("apps/stamp/dist/debug/stamp.psp", &["x"]);
    assert!(run.ok().stdout.contains("from the shared lib"), "{run:?}");
    // The step writes apps/stamp/build/fnv1a, which apps/stamp/.gitignore (`/build/`)
    // ignores: the step's own output is no reason to rebuild.
    p.append("apps/stamp/src/fnv1a.c", "/* edited */\n");
    assert_eq!(changed(&w.rebuilt()), ["apps/stamp/src/fnv1a.c"]);
    let spurious = w.rebuilds_within(Duration::from_secs(3));
    assert!(spurious.is_empty(), "{spurious:?}");
}

#[test]
fn an_edit_during_the_first_build_is_not_lost() {
    let p = hello();
    add_step(&p, "slow", "sleep 1 && mkdir -p out && echo > out/slow\n");
    let mut w = Watch::start(&p, "", &["--json"]);
    // The `src` slot is archived while the step still sleeps: edit it then.
    w.event("the archive", |e| {
        e["event"] == "finished" && e["label"] == "archive slot app (tar.zst)"
    });
    p.write("src/hello.sh", &script("during the first build"));
    loop {
        w.rebuilt();
        if output(&p) == "during the first build\n" {
            break;
        }
    }
}

#[test]
fn watch_fetches_from_the_remote_cache_and_uploads_what_it_rebuilds() {
    let server = support::nginx::Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    a.build(&["--remote-cache", &server.url()]);
    let uploaded = server.objects("ac").len();
    assert_eq!(uploaded, 9);

    // A second clone watches: its initial build comes from the remote.
    let b = a.another("monorepo", "b/monorepo");
    let (mut w, initial) = Watch::json(&b, "", &["--remote-cache", &server.url()]);
    assert_eq!(initial["ok"], true, "{initial}");
    assert_eq!(initial["built"], 0, "{initial}");
    assert_eq!(initial["remote_hits"], 9, "{initial}");
    // An edit reruns its chain locally, and the new results reach the server.
    b.append("apps/greet/src/greet.sh", "# edited\n");
    let e = w.rebuilt();
    assert!(e["built"].as_u64().unwrap() >= 1, "{e}");
    assert_eq!(e["remote_hits"], 0, "{e}");
    assert_eq!(
        server.objects("ac").len(),
        uploaded + e["built"].as_u64().unwrap() as usize
    );
    assert_eq!(w.interrupt().code(), Some(0), "{}", w.transcript());
}

#[test]
fn an_edited_input_under_a_steps_cwd_reruns_the_step() {
    let p = hello();
    p.write("gen/words.txt", "first words\n");
    p.write(".gitignore", "/gen/out/\n");
    // Inputs and outputs are relative to the manifest, whatever the step's `cwd`.
    p.append(
        "flavor.toml",
        "\n[[step]]\nid = \"gen\"\ncwd = \"gen\"\ncommand = \"mkdir -p out && cp words.txt out/words\"\n\
         inputs = [\"gen/words.txt\"]\noutputs = [\"gen/out/words\"]\n\n[[slot]]\nid = \"gen\"\n\
         step = \"gen\"\ntarget = \".\"\n",
    );
    let (mut w, initial) = Watch::json(&p, "", &[]);
    assert_eq!(initial["ok"], true, "{initial}\n{}", w.transcript());
    assert_eq!(extracted(&p, "gen/out/words"), "first words\n");
    p.write("gen/words.txt", "second words\n");
    let e = w.rebuilt();
    assert!(
        changed(&e).iter().any(|c| c.ends_with("gen/words.txt")),
        "{e}"
    );
    assert_eq!(extracted(&p, "gen/out/words"), "second words\n");
}
