//! Every repository path the READMEs and docs name exists: README.md, each crate's README.md
//! and docs/*.md are read, and what they name is looked up in the tree. Files move (the
//! review that asked for this found a layout naming files that had moved); a reader who follows
//! a path should find it.
//!
//! What counts as a path, to stay clear of false alarms:
//! - the target of a relative Markdown link `[text](target)` (resolved from the document's
//!   folder, as a Markdown viewer does);
//! - in inline code and in code blocks, a word that starts with a top folder of the repository
//!   or of a crate (`crates/`, `scripts/`, `docs/`, `src/`, `tests/`...) and either names a
//!   file with an extension or ends with `/`. Words with glob or placeholder characters are
//!   left alone. It may be relative to the repository or to the document's folder; `src/`,
//!   `tests/`, `examples/` and `benches/` paths in the top README may belong to any crate;
//! - in inline code, a source file named by its module path (`conn/direct.rs`,
//!   `transport/polling.rs`: a `/` and `.rs`): some file under `crates/` must end with it;
//! - in a code block drawn as a tree (a line that starts with such a folder, followed by
//!   indented lines), the names that open each indented line (`proto/`, `error.rs, tls.rs`),
//!   relative to that folder or its `src/`.
//!
//! The failure lists every missing path with the document and line that names it.

use std::path::{Path, PathBuf};

/// The folders a path must start with to be checked.
const TOP: &[&str] = &[
    "crates/",
    "scripts/",
    "docs/",
    "bench/",
    "fuzz/",
    "examples/",
    "tests/",
    "src/",
    "benches/",
    ".ci/",
];

/// Crate-relative folders: in the top README they may name any crate's.
const CRATE_DIRS: &[&str] = &["src/", "tests/", "examples/", "benches/"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md, crates/*/README.md, docs/*.md (relative to the repository).
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![PathBuf::from("README.md")];
    let mut add_dir = |dir: &str, pick: &dyn Fn(&Path) -> Option<PathBuf>| {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter_map(|e| pick(&e.path()))
            .collect();
        found.sort();
        docs.extend(found);
    };
    add_dir("crates", &|crate_dir| {
        let readme = crate_dir.join("README.md");
        readme.is_file().then(|| {
            Path::new("crates")
                .join(crate_dir.file_name().unwrap_or_default())
                .join("README.md")
        })
    });
    add_dir("docs", &|file| {
        (file.extension().is_some_and(|e| e == "md"))
            .then(|| Path::new("docs").join(file.file_name().unwrap_or_default()))
    });
    docs
}

/// Strips what surrounds a path in prose: brackets, quotes, trailing punctuation, an
/// `#anchor` and a `:LINE` suffix.
fn clean(word: &str) -> &str {
    let word = word.trim_start_matches(['(', '[', '"', '\'', '<']);
    let word = word.trim_end_matches([',', '.', ';', ':', ')', ']', '"', '\'', '>']);
    let word = word.split('#').next().unwrap_or(word);
    match word.rsplit_once(':') {
        Some((path, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => path,
        _ => word,
    }
}

/// A word that names a file (with an extension) or a folder (ending with `/`) under a known
/// top folder, without glob or placeholder characters.
fn looks_like_path(word: &str) -> bool {
    if !TOP.iter().any(|top| word.starts_with(top))
        || word.contains(['*', '{', '}', '<', '>', '$', '|', '?', '=', '`'])
        || word.contains("...")
    {
        return false;
    }
    if word.ends_with('/') {
        return true;
    }
    let last = word.rsplit('/').next().unwrap_or(word);
    last.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A source file named by its path inside some crate's `src/` (`conn/direct.rs`).
fn looks_like_module_path(word: &str) -> bool {
    word.contains('/')
        && word.ends_with(".rs")
        && !word.starts_with(['/', '.'])
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
}

/// Every file under `crates/` (relative to the repository), npm and build folders left out.
fn crate_files() -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if name == "node_modules" || name == "target" {
                continue;
            }
            let path = dir.join(&name);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), Path::new("crates"), &mut out);
    out
}

/// A name that opens a tree line: `proto/`, `error.rs`, `handshake_io/`.
fn looks_like_name(word: &str) -> bool {
    let ok_chars = word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b));
    ok_chars
        && !word.starts_with(['.', '/'])
        && (word.ends_with('/')
            || word
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && ext.len() <= 4 && !ext.is_empty()))
}

/// One path a document names.
#[derive(Debug)]
struct Named {
    /// The document (relative to the repository) and its 1-based line.
    doc: PathBuf,
    line: usize,
    /// The path as written.
    path: String,
    /// Where it may be, any one of them.
    candidates: Vec<PathBuf>,
}

/// Where `path`, named in `doc`, may be (relative to the repository).
fn candidates(doc: &Path, path: &str) -> Vec<PathBuf> {
    let doc_dir = doc.parent().unwrap_or(Path::new(""));
    let mut out = vec![doc_dir.join(path), PathBuf::from(path)];
    let top_readme = doc_dir.as_os_str().is_empty();
    if top_readme
        && CRATE_DIRS.iter().any(|d| path.starts_with(d))
        && let Ok(entries) = std::fs::read_dir(root().join("crates"))
    {
        for entry in entries.filter_map(Result::ok) {
            out.push(Path::new("crates").join(entry.file_name()).join(path));
        }
    }
    out
}

/// Every path `text` (the document `doc`) names, with where it may be.
fn named_paths(doc: &Path, text: &str) -> Vec<Named> {
    let mut out = Vec::new();
    let mut push = |line: usize, path: &str, candidates: Vec<PathBuf>| {
        out.push(Named {
            doc: doc.to_owned(),
            line,
            path: path.to_owned(),
            candidates,
        });
    };
    let doc_dir = doc.parent().unwrap_or(Path::new("")).to_owned();
    let mut in_block = false;
    // The folder a tree drawn in a code block is under, while its indented lines go on.
    let mut tree_base: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            tree_base = None;
            continue;
        }
        if in_block {
            let indented = line.starts_with(' ');
            let words: Vec<&str> = line.split_whitespace().collect();
            if !indented {
                tree_base = words
                    .first()
                    .map(|w| clean(w))
                    .filter(|w| looks_like_path(w) && w.ends_with('/'))
                    .map(str::to_owned);
            } else if let Some(base) = &tree_base {
                // The names that open the line: `error.rs, tls.rs, sync.rs (locks)`.
                for word in &words {
                    let name = word.trim_end_matches(',');
                    if !looks_like_name(name) {
                        break;
                    }
                    let joined = format!("{base}{name}");
                    let in_src = format!("{base}src/{name}");
                    push(
                        number,
                        &joined,
                        vec![doc_dir.join(&joined), doc_dir.join(&in_src)],
                    );
                    if !word.ends_with(',') {
                        break;
                    }
                }
            }
            for word in words {
                let path = clean(word);
                if looks_like_path(path) {
                    push(number, path, candidates(doc, path));
                }
            }
            continue;
        }
        // Inline code: the text between pairs of backticks.
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            for word in span.split_whitespace() {
                let path = clean(word);
                if looks_like_path(path) {
                    push(number, path, candidates(doc, path));
                } else if looks_like_module_path(path) {
                    let suffix = format!("/{path}");
                    let found = crate_files()
                        .into_iter()
                        .filter(|f| f.to_string_lossy().ends_with(&suffix))
                        .collect();
                    push(number, path, found);
                }
            }
        }
        // Relative link targets: `](target)`.
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external {
                push(number, target, vec![doc_dir.join(target)]);
            }
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_path_the_readmes_name_exists() {
    let root = root();
    let docs = documents();
    assert!(docs.len() >= 2, "found only {docs:?}");
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(root.join(doc))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", doc.display()));
        for named in named_paths(doc, &text) {
            checked += 1;
            if !named.candidates.iter().any(|c| root.join(c).exists()) {
                let looked: Vec<String> = named
                    .candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect();
                let looked = if looked.is_empty() {
                    format!("no file under crates/ ends with /{}", named.path)
                } else {
                    format!("looked for {}", looked.join(", "))
                };
                missing.push(format!(
                    "  {}:{}: `{}` ({looked})",
                    named.doc.display(),
                    named.line,
                    named.path,
                ));
            }
        }
    }
    // The documents do name paths: a parser that finds none would pass anything.
    assert!(checked > 50, "only {checked} paths found in {docs:?}");
    assert!(
        missing.is_empty(),
        "{} of the {checked} paths the docs name do not exist:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn the_path_finder_finds_what_it_should_and_nothing_else() {
    let doc = Path::new("crates/x/README.md");
    let text = "\
See `src/lib.rs`, `scripts/a.sh 2000 20`, `conn/x.rs` and [the notes](../../docs/N.md#part).
Not paths: `cargo test -p wsx`, `crates/*/tests`, `tests/<name>.rs`, `target/x.json`, `a/b.txt`.
```text
crates/x/src/
  proto/        frame, mask
  error.rs, tls.rs (locks), id.rs
more prose scripts/b.sh, and docs/
```
";
    let found: Vec<(usize, String)> = named_paths(doc, text)
        .into_iter()
        .map(|n| (n.line, n.path))
        .collect();
    let expected: Vec<(usize, String)> = [
        (1, "src/lib.rs"),
        (1, "scripts/a.sh"),
        (1, "conn/x.rs"),
        (1, "../../docs/N.md"),
        (4, "crates/x/src/"),
        (5, "crates/x/src/proto/"),
        (6, "crates/x/src/error.rs"),
        (6, "crates/x/src/tls.rs"),
        (7, "scripts/b.sh"),
        (7, "docs/"),
    ]
    .into_iter()
    .map(|(l, p)| (l, p.to_owned()))
    .collect();
    assert_eq!(found, expected);
    assert_eq!(clean("(crates/a/b.rs:12),"), "crates/a/b.rs");
}
