//! Directory outputs: an action that writes a directory produces a tree, stored in the CAS,
//! cached like a file, read back byte for byte and mode for mode by the actions that consume
//! it, kept by garbage collection; a link leading out of it is refused with its path.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::common::{Events, Fixture, assert_store_consistent, out};
use flavor_engine::{
    Action, ActionError, BuildOptions, Event, GcOptions, Graph, Input, OutputKind, RunContext,
    Status, Store, Tree, build,
};

/// Writes a directory: `bin/tool` (executable), `share/doc/readme.txt`, a link
/// `current -> bin/tool`, an empty directory, and whatever `extra` adds.
struct MakeTree {
    name: String,
    extra: fn(&Path),
}

fn plain(_: &Path) {}

impl Action for MakeTree {
    fn kind(&self) -> &'static str {
        "make-tree"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("make-tree {}", self.name)
    }
    fn params(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
    fn inputs(&self) -> Vec<Input> {
        Vec::new()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        ctx.output_line("making the tree");
        let root = ctx.output(0).to_path_buf();
        fs::create_dir_all(root.join("bin"))?;
        fs::create_dir_all(root.join("share/doc"))?;
        fs::create_dir_all(root.join("empty"))?;
        fs::write(root.join("bin/tool"), "#!/bin/sh\necho tool\n")?;
        fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o700))?;
        fs::write(root.join("share/doc/readme.txt"), &self.name)?;
        symlink("bin/tool", root.join("current"))?;
        (self.extra)(&root);
        Ok(())
    }
}

/// Lists the tree it is given (path, kind, mode, contents), after writing it out.
struct ListTree {
    input: Input,
    tree_ok: bool,
}

impl Action for ListTree {
    fn kind(&self) -> &'static str {
        "list-tree"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        "list-tree".into()
    }
    fn params(&self) -> Vec<u8> {
        vec![u8::from(self.tree_ok)]
    }
    fn inputs(&self) -> Vec<Input> {
        vec![self.input.clone()]
    }
    fn output_count(&self) -> usize {
        1
    }
    fn accepts_tree(&self, _: usize) -> bool {
        self.tree_ok
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let tree = ctx
            .input_tree(0)
            .ok_or_else(|| ActionError::new("no tree"))?;
        let dir = ctx.scratch_dir().join("copy");
        tree.materialize(&dir, false)?;
        fs::write(ctx.output(0), listing(&dir))?;
        Ok(())
    }
}

/// Every entry under `dir`, sorted: path, then `dir`, `link -> target` or `file MODE text`.
fn listing(dir: &Path) -> String {
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines);
    lines.sort();
    let lines: Vec<String> = lines
        .into_iter()
        .map(|(p, w)| format!("{p}: {w}"))
        .collect();
    lines.join("\n")
}

fn walk(root: &Path, dir: &Path, lines: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = path.symlink_metadata().unwrap();
        let what = if meta.is_symlink() {
            format!("link -> {}", fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            walk(root, &path, lines);
            "dir".to_string()
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            let text = fs::read_to_string(&path).unwrap();
            format!("file exec={exec} {text:?}")
        };
        lines.push((rel, what));
    }
}

const EXPECTED: &str = "bin: dir\n\
    bin/tool: file exec=true \"#!/bin/sh\\necho tool\\n\"\n\
    current: link -> bin/tool\n\
    empty: dir\n\
    share: dir\n\
    share/doc: dir\n\
    share/doc/readme.txt: file exec=false \"one\"";

fn graph(extra: fn(&Path), tree_ok: bool) -> (Graph, [flavor_engine::ActionId; 2]) {
    let mut g = Graph::new();
    let make = g
        .add(Box::new(MakeTree {
            name: "one".into(),
            extra,
        }))
        .unwrap();
    let list = g
        .add(Box::new(ListTree {
            input: out(make, 0),
            tree_ok,
        }))
        .unwrap();
    (g, [make, list])
}

#[test]
fn a_directory_output_is_a_tree_read_back_exactly_and_cached() {
    let fx = Fixture::new();
    let (g, [make, list]) = graph(plain, true);
    let sources = fx.sources();
    let events = Events::default();
    let report = build(
        &g,
        &fx.store,
        &sources,
        &BuildOptions::default(),
        &events.sink(),
    );
    assert!(report.is_ok(), "{:#?}", report.failed());
    let made = &report.get(make).unwrap().outputs[0];
    assert_eq!(made.kind, OutputKind::Tree);
    assert_eq!(made.size, 20 + 3, "the files' total size");
    assert_eq!(fx.read_output(&report, list, 0), EXPECTED);
    assert!(
        events.take().iter().any(|e| matches!(e,
            Event::Output { line, .. } if line == "making the tree")),
        "a line of output is reported as it happens"
    );

    // The stored tree, written out, is what the action wrote (the mode's other bits are
    // normalised: 0700 becomes 0755).
    let tree = Tree::read(&fx.store, &made.digest).unwrap();
    let out_dir = fx.dir.path().join("restored");
    tree.resolve_blobs(&fx.store)
        .unwrap()
        .materialize(&out_dir, false)
        .unwrap();
    assert_eq!(listing(&out_dir), EXPECTED);
    let mode = fs::metadata(out_dir.join("bin/tool"))
        .unwrap()
        .permissions();
    assert_eq!(mode.mode() & 0o777, 0o755);
    assert_store_consistent(&fx.store);

    // Second build: both are cache hits, with the same tree.
    let again = fx.build(&g, &sources);
    assert_eq!((again.built(), again.cached()), (0, 2));
    assert_eq!(again.get(make).unwrap().outputs[0], *made);

    // The same tree built by another action run has the same digest (contents-addressed).
    let fx2 = Fixture::new();
    let other = fx2.build(&g, &fx2.sources());
    assert_eq!(other.get(make).unwrap().outputs[0].digest, made.digest);
}

#[test]
fn a_tree_missing_a_file_in_the_store_is_rebuilt() {
    let fx = Fixture::new();
    let (g, [make, _]) = graph(plain, true);
    let sources = fx.sources();
    let first = fx.build(&g, &sources);
    let tree = Tree::read(&fx.store, &first.get(make).unwrap().outputs[0].digest).unwrap();
    let Some(flavor_engine::TreeEntry::Dir(bin)) = tree.entries.get("bin") else {
        panic!("bin is a directory: {tree:?}");
    };
    let Some(flavor_engine::TreeEntry::File(tool)) = bin.entries.get("tool") else {
        panic!("bin/tool is a file");
    };
    fs::remove_file(fx.store.blob_path(&tool.digest).unwrap()).unwrap();
    let second = fx.build(&g, &sources);
    assert!(second.is_ok(), "{:#?}", second.failed());
    assert_eq!(
        second.built(),
        1,
        "the incomplete tree is a miss; its reader is a hit"
    );
    assert_store_consistent(&fx.store);
}

#[test]
fn a_link_out_of_the_tree_is_refused_with_its_path() {
    fn leak(root: &Path) {
        // `share/doc/../../etc/passwd` would be inside: one more `..` climbs out.
        symlink("../../../etc/passwd", root.join("share/doc/leak")).unwrap();
    }
    let fx = Fixture::new();
    let (g, [make, list]) = graph(leak, true);
    let report = fx.build(&g, &fx.sources());
    let Status::Failed(error) = &report.get(make).unwrap().status else {
        panic!("the tree with a leaking link is refused");
    };
    assert!(
        error.message.contains("share/doc/leak") && error.message.contains("../../../etc/passwd"),
        "{}",
        error.message
    );
    assert!(matches!(
        report.get(list).unwrap().status,
        Status::Skipped { .. }
    ));
    assert_store_consistent(&fx.store);
}

#[test]
fn an_action_that_reads_a_file_is_not_handed_a_tree() {
    let fx = Fixture::new();
    let (g, [_, list]) = graph(plain, false);
    let report = fx.build(&g, &fx.sources());
    let Status::Failed(error) = &report.get(list).unwrap().status else {
        panic!("a tree where a file is read fails");
    };
    assert!(
        error.message.contains("is a directory"),
        "{}",
        error.message
    );
}

#[test]
fn garbage_collection_keeps_every_blob_of_a_live_tree() {
    let fx = Fixture::new();
    let (g, [_, list]) = graph(plain, true);
    let sources = fx.sources();
    let report = fx.build(&g, &sources);
    assert!(report.is_ok());
    let mut gc = fx.store.collector().unwrap();
    gc.mark(&g, &[list], &sources);
    let swept = gc
        .sweep(&GcOptions {
            max_size: 0,
            dry_run: false,
        })
        .unwrap();
    assert_eq!(swept.removed_entries, 0, "{swept:?}");
    let again = fx.build(&g, &sources);
    assert_eq!(again.built(), 0, "everything is still cached after gc");
    assert_store_consistent(&fx.store);
}
