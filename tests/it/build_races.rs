//! A source rewritten while `flavor build` runs must not poison the caches: the result of an
//! action whose key was computed from one version of a file and whose outputs were made from
//! another is never stored, locally or on the remote cache, and a later build of the file's
//! final contents gets a package made from exactly those contents.
//!
//! The race is made reliable with a real build step that rewrites a source of another slot
//! (as a code generator writing into the tree does) and `--jobs 1`: the scheduler checks every
//! ready action (digesting `app/msg.txt` for the archive's key) before it runs any, and runs
//! them in order, so the step rewrites the file after the archive's key was computed and
//! before the archive reads it.
//!
//! Before sources were checked after use, the first build succeeded and stored the archive of
//! the edited file under the key of "version 1" (and uploaded it): when the file was back at
//! "version 1", the next build — and a fresh clone fetching from the remote — installed a
//! package printing the edited text.

use std::fs;
use support::nginx::Nginx;
use support::project::{Build, Project, copy_tree};

/// The step rewrites `app/msg.txt` when `../edit-now` exists (only for the first clone).
const MANIFEST: &str = r#"[package]
name = "race"
version = "1.0.0"

[execution]
command = "/bin/cat {workenv}/app/msg.txt"

[[step]]
id = "regen"
command = 'if [ -e ../edit-now ]; then echo edited-during-the-build > app/msg.txt; fi; echo done > stamp.txt'
outputs = ["stamp.txt"]
sandbox = false                 # a code generator writing into the tree

[[slot]]
id = "app"
source = "app"

[[slot]]
id = "stamp"
step = "regen"
target = "stamp"
"#;

/// What the step writes into `app/msg.txt`.
const EDITED: &str = "edited-during-the-build";

fn build_with_remote(project: &Project, url: &str) -> Build {
    project.build_in("", &["--jobs", "1", "--remote-cache", url])
}

#[test]
fn a_source_rewritten_during_the_build_never_reaches_a_cache() {
    let server = Nginx::start();
    let a = Project::from_files(&[("flavor.toml", MANIFEST), ("app/msg.txt", "version 1\n")]);
    let trigger = a.sandbox.path("edit-now");
    fs::write(&trigger, "").unwrap();
    let racy = build_with_remote(&a, &server.url());
    assert_eq!(
        fs::read_to_string(a.path("app/msg.txt")).unwrap(),
        "edited-during-the-build\n",
        "the step rewrote the source during the build"
    );

    // The file goes back to version 1 and nobody edits it any more.
    fs::remove_file(&trigger).unwrap();
    a.write("app/msg.txt", "version 1\n");
    let clean = build_with_remote(&a, &server.url());
    clean.run.ok();
    a.run_package("dist/debug/race.psp", &[])
        .clean("version 1\n");

    // A fresh clone of the same contents, fed by the remote cache, agrees.
    let b = Project {
        sandbox: a.sandbox.clone(),
        root: a.sandbox.path("b/race"),
    };
    copy_tree(&a.root, &b.root);
    let fetched = build_with_remote(&b, &server.url());
    fetched.run.ok();
    b.run_package("dist/debug/race.psp", &[])
        .clean("version 1\n");
    for blob in server.objects("cas") {
        let bytes = fs::read(&blob).unwrap();
        assert!(
            !bytes.windows(EDITED.len()).any(|w| w == EDITED.as_bytes()),
            "the remote cache received the edited file: {}",
            blob.display()
        );
    }

    // The racy build itself failed the action that read the file, naming it.
    racy.run.expect_code(1);
    let failed: Vec<&serde_json::Value> = racy
        .events
        .iter()
        .filter(|e| e["event"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("app/msg.txt") && message.contains("changed during the build"),
        "{message}"
    );
    assert_eq!(racy.summary["ok"], false);
}
