//! Only what changed is built, asserted on the action counts and labels `flavor build --json`
//! reports: a second build with no change runs nothing; a content change reruns exactly the
//! actions that depend on the file; an mtime-only change reruns nothing; and the slot the
//! monorepo's three packages share is archived and compressed once.

use support::project::Project;

/// Actions of the monorepo: the shared `lib` slot (one archive-and-compress action), greet and
/// count (app archive, package; count's two targets are one package action), and stamp (step,
/// app and tool archives, package).
const MONOREPO_ACTIONS: u64 = 1 + 2 + 2 + 4;

#[test]
fn a_second_build_with_no_change_runs_nothing() {
    let p = Project::example("monorepo");
    let cold = p.build(&[]);
    assert_eq!((cold.built(), cold.cached()), (MONOREPO_ACTIONS, 0));
    let again = p.build(&[]);
    assert_eq!(again.built(), 0, "ran: {:?}", again.ran());
    assert_eq!(again.cached(), MONOREPO_ACTIONS);
    assert_eq!(
        again.packages().len(),
        4,
        "every package is still installed"
    );
}

#[test]
fn the_shared_slot_is_archived_and_compressed_once() {
    let p = Project::example("monorepo");
    let cold = p.build(&[]);
    assert_eq!(
        cold.count("started", "archive slot lib (tar.zst)"),
        1,
        "{:?}",
        cold.ran()
    );
    assert_eq!(cold.count("finished", "archive slot lib (tar.zst)"), 1);
    // Each package's own slot is archived and compressed once each.
    assert_eq!(cold.count("started", "archive slot app (tar.zst)"), 3);
}

#[test]
fn editing_a_member_file_rebuilds_that_member_only() {
    let p = Project::example("monorepo");
    p.build(&[]);
    p.append("apps/greet/src/greet.sh", "say \"bye\"\n");
    let b = p.build(&[]);
    assert_eq!(b.ran(), ["archive slot app (tar.zst)", "package greet"]);
    assert_eq!((b.built(), b.cached()), (2, MONOREPO_ACTIONS - 2));
    p.run_package("apps/greet/dist/debug/greet.psp", &["Ada"])
        .clean("greet: hello, Ada\ngreet: bye\n");
}

#[test]
fn editing_the_shared_library_rebuilds_it_once_and_every_package() {
    let p = Project::example("monorepo");
    p.build(&[]);
    p.replace("shared/lib/say.sh", "'%s: %s\\n'", "'%s> %s\\n'");
    let b = p.build(&[]);
    assert_eq!(
        b.ran(),
        [
            "archive slot lib (tar.zst)",
            "package count (linux-x86_64)",
            "package greet",
            "package stamp",
        ]
    );
    p.run_package("apps/count/dist/debug/count.psp", &[])
        .clean("count> 0 argument(s)\n");
}

#[test]
fn editing_a_step_input_reruns_the_step_and_what_reads_its_new_output() {
    let p = Project::example("monorepo");
    p.build(&[]);
    p.replace("apps/stamp/src/fnv1a.c", "%08x\\n", "%08X\\n");
    let b = p.build(&[]);
    assert_eq!(
        b.ran(),
        [
            "archive slot tool (tar.zst)",
            "package stamp",
            "step compile"
        ]
    );
    p.run_package("apps/stamp/dist/debug/stamp.psp", &["abc"])
        .clean("stamp: abc 1A47E90B\n");
}

#[test]
fn touching_only_the_mtime_rebuilds_nothing() {
    let p = Project::example("monorepo");
    p.build(&[]);
    for rel in [
        "apps/greet/src/greet.sh",
        "shared/lib/say.sh",
        "apps/stamp/src/fnv1a.c",
        "apps/count/flavor.toml",
    ] {
        p.touch_mtime(rel);
    }
    let b = p.build(&[]);
    assert_eq!(b.built(), 0, "ran: {:?}", b.ran());
    assert_eq!(b.cached(), MONOREPO_ACTIONS);
}

#[test]
fn a_python_source_change_rebuilds_its_slot_and_package() {
    let p = Project::example("python-app");
    p.build(&[]);
    assert_eq!(p.build(&[]).built(), 0);
    // The raw settings file has no action of its own: only the package is rebuilt.
    p.replace("config/settings.json", "\"top\": 3", "\"top\": 1");
    let b = p.build(&[]);
    assert_eq!(b.ran(), ["package wordstat"]);
    p.run_package("dist/debug/wordstat.psp", &["b", "a", "b"])
        .clean("wordstat (packaged): 3 words, 2 distinct\n  b 2\n");
    // A file of the app directory: its archive, compression and the package.
    p.append("app/wordstat/__init__.py", "\n# a comment\n");
    let b = p.build(&[]);
    assert_eq!(b.ran(), ["archive slot app (tar.zst)", "package wordstat"]);
}

#[test]
fn a_new_file_in_a_slot_directory_is_picked_up_and_ignored_files_are_not() {
    let p = Project::example("monorepo");
    p.build(&[]);
    // Files that are never collected change nothing.
    p.write("apps/greet/src/.gitignore", "*.tmp\n");
    p.build(&[]); // the .gitignore itself is a new file of the slot
    p.write("apps/greet/src/scratch.tmp", "ignored\n");
    p.write("apps/greet/dist/leftover.txt", "not a source\n");
    assert_eq!(p.build(&[]).built(), 0);
    // A new file that is collected rebuilds the member's slot.
    p.write("apps/greet/src/extra.txt", "new\n");
    let b = p.build(&[]);
    assert_eq!(b.ran(), ["archive slot app (tar.zst)", "package greet"]);
}
