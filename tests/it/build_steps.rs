//! Build steps as real build actions: a step's directory output ships whole (byte for byte,
//! mode for mode, links as links) and is cached; outputs land where `to` says; steps run in
//! a sandbox (an undeclared input fails with a note naming it, the source tree is left
//! untouched); a declared tool's contents are in the key; `-v` shows a step's output while it
//! runs; through the remote cache a second clone gets the tree without running the step.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::nginx::Nginx;
use support::project::Project;
use support::remote::build_remote;
use support::{line_channel, run};

/// Writes `out/` as the step below does: nested directories, an executable, a link, an
/// empty directory.
const MAKE_TREE: &str = "mkdir -p out/bin out/share/doc/app out/empty \
    && printf '#!/bin/sh\\necho \"app: $*\"\\n' > out/bin/app && chmod 0755 out/bin/app \
    && cat notes.txt > out/share/doc/app/notes.txt && chmod 0600 out/share/doc/app/notes.txt \
    && ln -s app out/bin/app-link";

fn tree_project() -> Project {
    let manifest = format!(
        "[package]\nname = \"treeapp\"\nversion = \"0.1.0\"\n\n\
         [execution]\ncommand = \"{{workenv}}/bin/app\"\n\n\
         [[slot]]\nid = \"tree\"\nstep = \"make\"\ntarget = \".\"\n\n\
         [[step]]\nid = \"make\"\ncommand = {MAKE_TREE:?}\ninputs = [\"notes.txt\"]\n\
         outputs = [{{ path = \"out/\", to = \".\" }}]\n"
    );
    Project::from_files(&[
        ("flavor.toml", &manifest),
        ("notes.txt", "line one\nline two\n"),
        (".gitignore", "dist/\n.flavor/\n"),
    ])
}

/// Every entry under `dir`: path, then `dir`, `link -> target`, or `file MODE` and contents.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = path.symlink_metadata().unwrap();
        if meta.is_symlink() {
            out.push(format!(
                "{rel} link -> {}",
                fs::read_link(&path).unwrap().display()
            ));
        } else if meta.is_dir() {
            out.push(format!("{rel} dir"));
            walk(root, &path, out);
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            let text = fs::read_to_string(&path).unwrap();
            out.push(format!("{rel} file exec={exec} {text:?}"));
        }
    }
}

fn git(p: &Project, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(&p.root)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_directory_output_ships_exactly_is_cached_and_leaves_the_tree_untouched() {
    let p = tree_project();
    git(&p, &["init", "-q"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "-qm", "start"]);

    let first = p.build(&[]);
    assert_eq!(
        first.ran(),
        [
            "archive slot tree (tar.zst)",
            "package treeapp",
            "step make"
        ]
    );
    p.run_package("dist/debug/treeapp.psp", &["hi"])
        .clean("app: hi\n");

    // The same command run by hand makes the tree the workenv must hold.
    let by_hand = p.sandbox.path("by-hand");
    fs::create_dir_all(&by_hand).unwrap();
    fs::copy(p.path("notes.txt"), by_hand.join("notes.txt")).unwrap();
    let made = std::process::Command::new("sh")
        .args(["-c", MAKE_TREE])
        .current_dir(&by_hand)
        .status()
        .unwrap();
    assert!(made.success());
    let expected = listing(&by_hand.join("out"));
    assert!(
        expected.contains(&"bin/app-link link -> app".to_string()),
        "{expected:?}"
    );
    assert!(expected.contains(&"empty dir".to_string()), "{expected:?}");
    let workenvs = p.sandbox.workenvs("treeapp");
    assert_eq!(workenvs.len(), 1, "{workenvs:?}");
    let shipped: Vec<String> = listing(&workenvs[0])
        .into_iter()
        .filter(|l| {
            expected
                .iter()
                .any(|e| e.split(' ').next() == l.split(' ').next())
        })
        .collect();
    assert_eq!(
        shipped, expected,
        "the workenv holds the step's tree exactly"
    );

    // Nothing was written into the source tree: no out/, nothing but the ignored dist/ and
    // .flavor/.
    assert_eq!(git(&p, &["status", "--porcelain", "--ignored=no"]), "");
    assert!(!p.path("out").exists());

    // A second build runs nothing; `flavor clean` leaves nothing the step wrote.
    let second = p.build(&[]);
    assert_eq!((second.built(), second.cached()), (0, 3));
}

#[test]
fn an_undeclared_input_fails_in_the_sandbox_with_a_note_naming_it() {
    let p = Project::from_files(&[
        (
            "flavor.toml",
            "[package]\nname = \"leaky\"\nversion = \"0.1.0\"\n\n\
             [execution]\ncommand = \"{workenv}/out.txt\"\n\n\
             [[slot]]\nid = \"out\"\nstep = \"s\"\n\n\
             [[step]]\nid = \"s\"\ncommand = \"cat a.txt secret.h > out.txt\"\n\
             inputs = [\"a.txt\"]\noutputs = [\"out.txt\"]\n",
        ),
        ("a.txt", "a\n"),
        ("secret.h", "#define SECRET 1\n"),
    ]);
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    assert!(out.stderr.contains("sandbox"), "{}", out.stderr);
    assert!(out.stderr.contains("`secret.h`"), "{}", out.stderr);
    assert!(out.stderr.contains("inputs"), "{}", out.stderr);
    assert!(
        !p.path("out.txt").exists(),
        "nothing is written into the source tree"
    );

    // Declared, it builds; `sandbox = false` runs in the source tree.
    p.replace(
        "flavor.toml",
        "inputs = [\"a.txt\"]",
        "inputs = [\"a.txt\", \"secret.h\"]",
    );
    p.build(&[]);
    assert!(!p.path("out.txt").exists());
    p.replace(
        "flavor.toml",
        "outputs = [\"out.txt\"]",
        "outputs = [\"out.txt\"]\nsandbox = false",
    );
    p.build(&[]);
    assert!(
        p.path("out.txt").exists(),
        "an unsandboxed step writes in the tree"
    );
}

#[test]
fn a_changed_tool_binary_changes_the_key() {
    let tools = tempfile::tempdir().unwrap();
    let tool = tools.path().join("greeter");
    fs::write(&tool, "#!/bin/sh\necho hello > out.txt\n").unwrap();
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
    let p = Project::from_files(&[(
        "flavor.toml",
        "[package]\nname = \"tooled\"\nversion = \"0.1.0\"\n\n\
         [execution]\ncommand = \"{workenv}/out.txt\"\n\n\
         [[slot]]\nid = \"out\"\nstep = \"s\"\n\n\
         [[step]]\nid = \"s\"\ncommand = \"greeter\"\noutputs = [\"out.txt\"]\n\
         tools = [\"greeter\"]\n",
    )]);
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let build = |p: &Project| {
        let mut cmd = p.command("", &["build", "--json"]);
        cmd.env("PATH", &path);
        let out = run(&mut cmd);
        out.ok();
        out.stdout
            .lines()
            .filter(|l| l.contains("\"event\":\"started\""))
            .count()
    };
    assert_eq!(build(&p), 3, "first build runs all");
    assert_eq!(build(&p), 0, "unchanged tool: cached");
    fs::write(&tool, "#!/bin/sh\necho bonjour > out.txt\n").unwrap();
    assert_eq!(build(&p), 3, "the tool's new contents rerun the step");
}

#[test]
fn verbose_shows_a_step_output_while_it_runs() {
    let flag = tempfile::tempdir().unwrap();
    let go = flag.path().join("go");
    let p = Project::from_files(&[(
        "flavor.toml",
        "[package]\nname = \"slow\"\nversion = \"0.1.0\"\n\n\
         [execution]\ncommand = \"{workenv}/out.txt\"\n\n\
         [[slot]]\nid = \"out\"\nstep = \"s\"\n\n\
         [[step]]\nid = \"s\"\n\
         command = \"echo compiling-the-thing; while [ ! -e \\\"$GO\\\" ]; do sleep 0.05; done; echo done > out.txt\"\n\
         outputs = [\"out.txt\"]\npass_env = [\"GO\"]\n",
    )]);
    let mut cmd = p.command("", &["build", "-v"]);
    cmd.env("GO", &go)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let lines = line_channel(child.stderr.take().unwrap());
    // The line arrives while the step is still waiting for the flag: it cannot have ended.
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no live output; saw {seen:?}"));
        if line.contains("compiling-the-thing") {
            assert!(line.contains("s"), "prefixed with the step: {line}");
            break;
        }
        seen.push(line);
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build is still running"
    );
    fs::write(&go, "").unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    for line in lines.iter() {
        rest.push_str(line.as_str());
        rest.push('\n');
    }
    assert!(status.success(), "{rest}");
}

#[test]
fn a_second_clone_gets_the_tree_from_the_remote_cache() {
    let server = Nginx::start();
    let a = tree_project();
    let b = Project {
        sandbox: std::rc::Rc::clone(&a.sandbox),
        root: a.sandbox.path("b"),
    };
    support::project::copy_tree(&a.root, &b.root);
    let first = build_remote(&a, &server.url(), &[]);
    assert_eq!(first.built(), 3);
    let second = build_remote(&b, &server.url(), &[]);
    assert_eq!(second.built(), 0, "ran: {:?}", second.ran());
    b.run_package("dist/debug/treeapp.psp", &["remote"])
        .clean("app: remote\n");
    assert_eq!(
        a.bytes("dist/debug/treeapp.psp"),
        b.bytes("dist/debug/treeapp.psp")
    );
}

#[test]
fn outputs_land_where_to_says_and_a_command_nothing_provides_is_an_error() {
    let manifest = |output: &str| {
        format!(
            "[package]\nname = \"mapped\"\nversion = \"0.1.0\"\n\n\
             [execution]\ncommand = \"{{workenv}}/bin/tool hi\"\n\n\
             [[slot]]\nid = \"bin\"\nstep = \"s\"\ntarget = \"bin\"\n\n\
             [[step]]\nid = \"s\"\ncwd = \"native\"\n\
             command = \"mkdir -p out/bin && printf '#!/bin/sh\\\\necho tool $1\\\\n' > out/bin/tool && chmod +x out/bin/tool\"\n\
             inputs = [\"tool.c\"]\noutputs = [{output}]\n"
        )
    };
    // The plain form keeps the whole path: bin/native/out/bin/tool, not bin/tool.
    let p = Project::from_files(&[
        ("flavor.toml", &manifest("\"native/out/bin/tool\"")),
        ("native/tool.c", "int main(void) { return 0; }\n"),
    ]);
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("runs `{workenv}/bin/tool`")
            && out.stderr.contains("bin/native/out/bin/tool (step s)"),
        "{}",
        out.stderr
    );
    // Mapped with `to`, it lands at bin/tool. The input `tool.c` is relative to the
    // manifest (not to `cwd`), where there is none: a warning naming the step and the glob.
    p.write(
        "flavor.toml",
        &manifest("{ path = \"native/out/bin/tool\", to = \"tool\" }"),
    );
    let warned = p.flavor(&["build"]);
    warned.ok();
    assert!(
        warned
            .stderr
            .contains("step `s`: input `tool.c` matches no file"),
        "{}",
        warned.stderr
    );
    p.replace(
        "flavor.toml",
        "inputs = [\"tool.c\"]",
        "inputs = [\"native/*.c\"]",
    );
    let build = p.build(&[]);
    assert!(
        !build.run.stderr.contains("matches no file"),
        "{}",
        build.run.stderr
    );
    p.run_package("dist/debug/mapped.psp", &[])
        .clean("tool hi\n");
}

#[test]
fn the_c_tool_example_ships_its_installed_tree() {
    let p = Project::example("c-tool");
    let build = p.build(&[]);
    assert_eq!(build.packages(), ["c-tool"]);
    p.run_package("dist/debug/c-tool.psp", &["abc"])
        .clean("abc 1a47e90b\n");
    let workenv = &p.sandbox.workenvs("c-tool")[0];
    assert_eq!(
        fs::read_link(workenv.join("bin/fnv1a")).unwrap(),
        Path::new("hash")
    );
    assert!(workenv.join("share/doc/hash/README").is_file());
    assert!(!p.path("stage").exists() && !p.path("src/hash").exists());
}
