//! Dynamic namespaces (`Server::of_matching`, `Server::of_fn`) against a raw client: children
//! are created on their first CONNECT, run their parent's middlewares and handlers, are
//! scoped to themselves, and a name no rule accepts is refused as before.

mod common;

use common::{Raw, start};
use serde_json::{Value, json};
use wsx_sio::{Args, ConnectError, Regex, Server, Socket};

/// Connects `raw` to `namespace`; returns the server's answer (CONNECT or CONNECT_ERROR).
async fn connect_to(raw: &mut Raw, namespace: &str, auth: Option<Value>) -> String {
    match auth {
        Some(auth) => raw.send(&format!("40{namespace},{auth}")).await,
        None => raw.send(&format!("40{namespace},")).await,
    }
    raw.text().await
}

fn refused(namespace: &str) -> String {
    format!(r#"44{namespace},{{"message":"Invalid namespace"}}"#)
}

/// A parent for `^/t-[0-9]+$` whose handlers answer `where` with the socket's namespace and
/// relay `shout` to every socket of that namespace.
fn tenant_server() -> Server {
    let io = Server::default();
    let tenants = io.of_matching(Regex::new(r"^/t-[0-9]+$").expect("pattern"));
    tenants.use_middleware(|socket: Socket| async move {
        if socket.auth()["banned"] == json!(true) {
            return Err(ConnectError::new("banned"));
        }
        Ok(())
    });
    tenants.on_connection(|socket: Socket| async move {
        socket.on_with_ack("where", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.namespace());
        });
        socket.on("shout", |s: Socket, text: String| async move {
            let _ = s.hub().emit("shout", &text);
        });
    });
    io
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_name_gets_a_child_with_the_parents_handlers() {
    let io = tenant_server();
    let addr = start(&io).await;
    let mut one = Raw::connect(addr).await;
    let answer = connect_to(&mut one, "/t-1", None).await;
    assert!(answer.starts_with(r#"40/t-1,{"sid":"#), "{answer}");
    one.send(r#"42/t-1,7["where"]"#).await;
    assert_eq!(one.text().await, r#"43/t-1,7["/t-1"]"#);

    // The same rule, another child: its own namespace.
    let mut two = Raw::connect(addr).await;
    let answer = connect_to(&mut two, "/t-22", None).await;
    assert!(answer.starts_with(r#"40/t-22,{"sid":"#), "{answer}");
    two.send(r#"42/t-22,1["where"]"#).await;
    assert_eq!(two.text().await, r#"43/t-22,1["/t-22"]"#);

    // A broadcast in one child reaches its sockets only: `one` hears its own shout, then
    // `two`'s shout reaches `two` and not `one` (one's next packet is its own second shout).
    one.send(r#"42/t-1,["shout","a"]"#).await;
    assert_eq!(one.text().await, r#"42/t-1,["shout","a"]"#);
    two.send(r#"42/t-22,["shout","b"]"#).await;
    assert_eq!(two.text().await, r#"42/t-22,["shout","b"]"#);
    one.send(r#"42/t-1,["shout","c"]"#).await;
    assert_eq!(one.text().await, r#"42/t-1,["shout","c"]"#);

    // Server::of names the child too, with its sockets.
    assert_eq!(io.of("/t-1").local_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_the_rule_does_not_match_are_refused() {
    let io = tenant_server();
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;
    for name in ["/t-x", "/t-", "/t-12a", "/_0", "/nope"] {
        assert_eq!(connect_to(&mut raw, name, None).await, refused(name));
    }
    // The connection is still usable: a matching name connects after the refusals.
    let answer = connect_to(&mut raw, "/t-3", None).await;
    assert!(answer.starts_with(r#"40/t-3,{"sid":"#), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parents_middlewares_guard_every_child() {
    let io = tenant_server();
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;
    let answer = connect_to(&mut raw, "/t-5", Some(json!({"banned": true}))).await;
    assert_eq!(answer, r#"44/t-5,{"message":"banned"}"#);
    let answer = connect_to(&mut raw, "/t-5", Some(json!({"banned": false}))).await;
    assert!(answer.starts_with(r#"40/t-5,{"sid":"#), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_added_to_the_parent_later_reach_existing_children() {
    let io = Server::default();
    let parent = io.of_matching(Regex::new(r"^/late-\d+$").expect("pattern"));
    let addr = start(&io).await;
    let mut first = Raw::connect(addr).await;
    let answer = connect_to(&mut first, "/late-1", None).await;
    assert!(answer.starts_with("40/late-1,"), "{answer}");

    parent.on_connection(|socket: Socket| async move {
        let _ = socket.emit("hello", &socket.namespace());
    });
    let mut second = Raw::connect(addr).await;
    let answer = connect_to(&mut second, "/late-1", None).await;
    assert!(answer.starts_with("40/late-1,"), "{answer}");
    assert_eq!(second.text().await, r#"42/late-1,["hello","/late-1"]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_decides_from_the_name_and_the_auth() {
    let io = Server::default();
    let rooms = io.of_fn(|name: String, auth: Value| async move {
        // Awaits, as a lookup in a database would.
        tokio::task::yield_now().await;
        name.starts_with("/org-") && auth["token"] == json!("ok")
    });
    rooms.on_connection(|socket: Socket| async move {
        let _ = socket.emit("hello", &socket.namespace());
    });
    // A namespace made with `of` is not a child: its own handlers only.
    io.of("/org-static")
        .on_connection(|socket: Socket| async move {
            let _ = socket.emit("static", &socket.namespace());
        });
    let addr = start(&io).await;
    let mut raw = Raw::connect(addr).await;

    let denied = connect_to(&mut raw, "/org-a", Some(json!({"token": "no"}))).await;
    assert_eq!(denied, refused("/org-a"));
    assert_eq!(
        connect_to(&mut raw, "/team-a", Some(json!({"token": "ok"}))).await,
        refused("/team-a")
    );

    let answer = connect_to(&mut raw, "/org-a", Some(json!({"token": "ok"}))).await;
    assert!(answer.starts_with("40/org-a,"), "{answer}");
    assert_eq!(raw.text().await, r#"42/org-a,["hello","/org-a"]"#);

    let answer = connect_to(&mut raw, "/org-static", None).await;
    assert!(answer.starts_with("40/org-static,"), "{answer}");
    assert_eq!(
        raw.text().await,
        r#"42/org-static,["static","/org-static"]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_parent_does_reaches_every_child() {
    let io = tenant_server();
    let parent = io.of_matching(Regex::new(r"^/p-[0-9]+$").expect("pattern"));
    parent.on_connection(|socket: Socket| async move {
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
    });
    let addr = start(&io).await;
    let mut one = Raw::connect(addr).await;
    let mut two = Raw::connect(addr).await;
    let mut other = Raw::connect(addr).await;
    assert!(
        connect_to(&mut one, "/p-1", None)
            .await
            .starts_with("40/p-1,")
    );
    assert!(
        connect_to(&mut two, "/p-2", None)
            .await
            .starts_with("40/p-2,")
    );
    // A child of another parent is not reached.
    assert!(
        connect_to(&mut other, "/t-1", None)
            .await
            .starts_with("40/t-1,")
    );

    // Each child's sockets get it under their own namespace.
    assert_eq!(parent.emit("all", &1).ok(), Some(2));
    assert_eq!(one.text().await, r#"42/p-1,["all",1]"#);
    assert_eq!(two.text().await, r#"42/p-2,["all",1]"#);

    two.send(r#"42/p-2,1["join","vip"]"#).await;
    assert_eq!(two.text().await, "43/p-2,1[true]");
    assert_eq!(parent.to("vip").emit("vip", &2).ok(), Some(1));
    assert_eq!(two.text().await, r#"42/p-2,["vip",2]"#);
    let found = parent.fetch_sockets().await.expect("in memory");
    assert_eq!(found.len(), 2);

    // The other parent's child heard nothing: its next packet is its own ack.
    other.send(r#"42/t-1,3["where"]"#).await;
    assert_eq!(other.text().await, r#"43/t-1,3["/t-1"]"#);
    // Nor did `one` hear the room emit.
    one.send(r#"42/p-1,4["join","x"]"#).await;
    assert_eq!(one.text().await, "43/p-1,4[true]");
}
