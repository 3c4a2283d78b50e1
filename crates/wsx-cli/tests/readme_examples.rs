//! The `wsx connect` and `wsx bench` examples of README.md and of `--help` talk to what the
//! demo serves: `wsx serve` listens on 127.0.0.1:8080 by default, and the endpoints they name
//! exist there. (A new user once copied `ws://127.0.0.1:9001/` from the README into a terminal
//! next to `wsx serve` and got nowhere.)

mod common;

use common::serve::Serve;
use common::wsx;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);
/// Where `wsx serve` listens unless told otherwise.
const DEMO_PORT: &str = "8080";

/// The URLs of the `wsx connect` / `wsx bench` command lines in `text`, with their line.
fn example_urls(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("wsx connect ") || l.starts_with("wsx bench "))
        .filter_map(|l| {
            let url = l
                .split_whitespace()
                .find(|w| w.starts_with("ws://") || w.starts_with("wss://"))?;
            Some((l.to_owned(), url.to_owned()))
        })
        .collect()
}

/// `(host, port, path)` of a `ws://` or `wss://` URL.
fn split_url(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
    (host.to_owned(), port.to_owned(), path.to_owned())
}

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn the_examples_use_the_demo_port_and_its_endpoints() {
    let mut examples = example_urls(&readme());
    let from_readme = examples.len();
    assert!(
        from_readme >= 3,
        "found only {from_readme} wsx connect/bench examples in README.md"
    );
    for command in ["connect", "bench"] {
        let run = wsx(&[command, "--help"], "", LIMIT);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let found = example_urls(&run.stdout);
        assert!(!found.is_empty(), "no examples in wsx {command} --help");
        examples.extend(found);
    }
    let serve_help = wsx(&["serve", "--help"], "", LIMIT);
    assert!(
        serve_help
            .stdout
            .contains(&format!("[default: 127.0.0.1:{DEMO_PORT}]")),
        "wsx serve no longer listens on 127.0.0.1:{DEMO_PORT} by default: fix the examples\n{}",
        serve_help.stdout
    );
    let mut wrong = Vec::new();
    for (line, url) in &examples {
        let (host, port, path) = split_url(url);
        let served = ["/echo", "/chat"].contains(&path.as_str());
        if !["127.0.0.1", "localhost"].contains(&host.as_str()) || port != DEMO_PORT || !served {
            wrong.push(format!("  {line}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "these examples do not reach `wsx serve` (127.0.0.1:{DEMO_PORT}, /echo or /chat):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_endpoints_the_examples_name_answer_on_a_running_demo() {
    let paths: BTreeSet<String> = example_urls(&readme())
        .into_iter()
        .map(|(_, url)| split_url(&url).2)
        .collect();
    assert!(!paths.is_empty());
    let serve = Serve::start(&[]);
    for path in paths {
        let url = format!("ws://{}{path}", serve.hostport());
        let run = wsx(&["connect", &url, "-x", "hello", "-w", "0.3"], "", LIMIT);
        assert_eq!(run.code, Some(0), "{url}: {}", run.stderr);
        assert!(run.stderr.contains("connected to"), "{url}: {}", run.stderr);
    }
}

#[test]
fn urls_split_into_host_port_and_path() {
    assert_eq!(
        split_url("wss://localhost:8080/chat?x=1"),
        ("localhost".into(), "8080".into(), "/chat?x=1".into())
    );
    assert_eq!(
        split_url("ws://127.0.0.1:9001"),
        ("127.0.0.1".into(), "9001".into(), "/".into())
    );
    assert_eq!(
        example_urls("x\n  wsx bench ws://h:1/p --json\nwsx serve\n"),
        [(
            "wsx bench ws://h:1/p --json".to_owned(),
            "ws://h:1/p".to_owned()
        )]
    );
}
