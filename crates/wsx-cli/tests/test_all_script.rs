//! `scripts/test_all.sh` keeps its promise of running every test with no skip: every npm
//! folder of the tests (a `package.json` under some `crates/*/tests/`) is installed by it or
//! by a setup script it runs, and every `WSX_REQUIRE_*` variable a test reads is one it sets.
//! (A test folder added without its `npm ci` once made CI's required run fail.)

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// scripts/test_all.sh and every `scripts/*.sh` it names, concatenated.
fn scripts_text() -> String {
    let root = root();
    let main = std::fs::read_to_string(root.join("scripts/test_all.sh"))
        .unwrap_or_else(|e| panic!("cannot read scripts/test_all.sh: {e}"));
    let mut text = main.clone();
    for word in main.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        if word.starts_with("scripts/") && word.ends_with(".sh") && word != "scripts/test_all.sh" {
            let called = std::fs::read_to_string(root.join(word))
                .unwrap_or_else(|e| panic!("scripts/test_all.sh runs {word}, unreadable: {e}"));
            text.push_str(&called);
        }
    }
    text
}

/// Every file under `dir` (relative to the repository), npm and build folders left out.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root().join(&dir)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if name == "node_modules" || name == "target" {
                continue;
            }
            let path = dir.join(&name);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The files under every `crates/*/tests/`.
fn test_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/");
    for entry in crates.filter_map(Result::ok) {
        out.extend(files_under(
            &Path::new("crates").join(entry.file_name()).join("tests"),
        ));
    }
    out
}

#[test]
fn every_npm_folder_of_the_tests_is_installed() {
    let scripts = scripts_text();
    let folders: Vec<String> = test_files()
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "package.json"))
        .filter_map(|f| f.parent().map(|d| d.to_string_lossy().into_owned()))
        .collect();
    assert!(
        folders.iter().any(|f| f.ends_with("wsx-cli/tests/browser")),
        "the walk found no npm folder: {folders:?}"
    );
    let missing: Vec<&String> = folders.iter().filter(|f| !scripts.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "npm folders that scripts/test_all.sh (and the setup scripts it runs) never install: \
         {missing:?}"
    );
}

#[test]
fn every_require_variable_the_tests_read_is_set() {
    let main = std::fs::read_to_string(root().join("scripts/test_all.sh")).expect("test_all.sh");
    let mut read = std::collections::BTreeSet::new();
    for file in test_files() {
        if file.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else {
            continue;
        };
        for (at, _) in text.match_indices("WSX_REQUIRE_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if name.len() > "WSX_REQUIRE_".len() {
                read.insert(name);
            }
        }
    }
    assert!(read.len() >= 4, "found only {read:?}");
    let unset: Vec<&String> = read
        .iter()
        .filter(|name| !main.contains(&format!("{name}=1")))
        .collect();
    assert!(
        unset.is_empty(),
        "tests read {unset:?}, which scripts/test_all.sh does not set to 1"
    );
}

/// Each crate has its own copy of the skip reporter (a test crate cannot share a module with
/// another package): the copies say the same thing.
#[test]
fn the_skip_reporters_are_one_text() {
    let copies: Vec<(PathBuf, String)> = test_files()
        .into_iter()
        .filter(|f| f.ends_with("skip/mod.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(root().join(&f)).expect("readable");
            (f, text)
        })
        .collect();
    assert!(copies.len() >= 3, "found {copies:?}");
    let (first_path, first) = &copies[0];
    for (path, text) in &copies[1..] {
        assert!(
            text == first,
            "{} differs from {}: copy one over the other",
            path.display(),
            first_path.display()
        );
    }
}
