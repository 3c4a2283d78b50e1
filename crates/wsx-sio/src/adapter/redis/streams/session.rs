//! The session keys of the Streams adapter, pure: what `persistSession` of
//! `@socket.io/redis-streams-adapter` 0.3 stores for a socket whose connection was lost, so
//! that any server of the cluster can give it back.
//!
//! The key is `<sessionKeyPrefix><pid>` (`sio:session:` by default), set with `PX` the
//! recovery window (`SET key value PX ms`), taken once with `GET` + `DEL` in a `MULTI` (Node
//! avoids `GETDEL`, which only Redis 6.2 has). The value is base64 text of the MessagePack map
//! socket.io's `Socket` persists: `{sid, pid, rooms, data}`: `rooms` include the socket's own
//! id, `data` is the socket's `data` (an empty map when it never set any: wsx-sio has none
//! and keeps what a Node server wrote, so a session crossing back keeps it).

use super::super::wire::{self, WireError};
use crate::recovery::SavedSession;
use crate::sid::Sid;
use base64::Engine as _;
use rmpv::Value as Mp;

/// The key of session `pid`.
pub(crate) fn key(prefix: &str, pid: &str) -> String {
    format!("{prefix}{pid}")
}

/// The value stored for `session`, with `data` (Node's `socket.data`; `None`: an empty map).
/// The socket's own id is put first among the rooms if missing, as Node's socket is in it.
pub(crate) fn encode(session: &SavedSession, data: Option<Mp>) -> String {
    let mut rooms = vec![Mp::from(session.sid.as_str())];
    rooms.extend(
        session
            .rooms
            .iter()
            .filter(|r| r.as_str() != session.sid.as_str())
            .map(|r| Mp::from(r.as_str())),
    );
    let value = Mp::Map(vec![
        (Mp::from("sid"), Mp::from(session.sid.as_str())),
        (Mp::from("pid"), Mp::from(session.pid.as_str())),
        (Mp::from("rooms"), Mp::Array(rooms)),
        (Mp::from("data"), data.unwrap_or(Mp::Map(Vec::new()))),
    ]);
    base64::engine::general_purpose::STANDARD.encode(wire::write(&value))
}

/// A stored session of namespace `namespace`, and its `data`. Ids that are not 20 URL-safe
/// base64 characters (a server not of this cluster's kind wrote it) are errors.
pub(crate) fn decode(namespace: &str, raw: &[u8]) -> Result<(SavedSession, Mp), WireError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| WireError::Shape("a session is base64"))?;
    let mut map = wire::map_entries(wire::read(&bytes)?).ok_or(WireError::Shape("a map"))?;
    let id = |v: Option<Mp>| match v {
        Some(Mp::String(s)) => s.as_str().and_then(Sid::parse),
        _ => None,
    };
    let sid = id(wire::take(&mut map, "sid")).ok_or(WireError::Shape("a socket id"))?;
    let pid = id(wire::take(&mut map, "pid")).ok_or(WireError::Shape("a private id"))?;
    let rooms = wire::rooms(wire::take(&mut map, "rooms"));
    let data = wire::take(&mut map, "data").unwrap_or(Mp::Nil);
    Ok((
        SavedSession {
            sid,
            pid,
            namespace: namespace.to_owned(),
            rooms,
        },
        data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What socket.io 4.8 with the Streams adapter 0.3 stores for a socket
    /// `AAAAAAAAAAAAAAAAAAAA` (private id `BBBBBBBBBBBBBBBBBBBB`) in room `r`, its `data`
    /// untouched (`@msgpack/msgpack`, base64).
    const NODE_SESSION: &str = "hKNzaWS0QUFBQUFBQUFBQUFBQUFBQUFBQUGjcGlktEJCQkJCQkJCQkJCQkJCQkJCQkJCpXJvb21zkrRBQUFBQUFBQUFBQUFBQUFBQUFBQaFypGRhdGGA";

    fn session() -> SavedSession {
        SavedSession {
            sid: Sid::parse("AAAAAAAAAAAAAAAAAAAA").expect("an id"),
            pid: Sid::parse("BBBBBBBBBBBBBBBBBBBB").expect("an id"),
            namespace: "/".into(),
            rooms: vec!["r".into()],
        }
    }

    #[test]
    fn we_store_what_node_stores_and_read_it_back() {
        assert_eq!(encode(&session(), None), NODE_SESSION);
        let (read, data) = decode("/", NODE_SESSION.as_bytes()).expect("decodes");
        assert_eq!(read.sid, session().sid);
        assert_eq!(read.pid, session().pid);
        assert_eq!(
            read.rooms,
            vec!["AAAAAAAAAAAAAAAAAAAA".to_owned(), "r".into()]
        );
        assert_eq!(data, Mp::Map(Vec::new()));
        // Node's own room first and once, whether or not our rooms list it.
        let mut with_own = session();
        with_own.rooms.insert(0, "AAAAAAAAAAAAAAAAAAAA".into());
        assert_eq!(encode(&with_own, None), NODE_SESSION);
        assert_eq!(
            key("sio:session:", "BBBBBBBBBBBBBBBBBBBB"),
            "sio:session:BBBBBBBBBBBBBBBBBBBB"
        );
    }

    #[test]
    fn data_crosses_back_unchanged() {
        let data = Mp::Map(vec![(Mp::from("user"), Mp::from(7))]);
        let raw = encode(&session(), Some(data.clone()));
        assert_eq!(decode("/", raw.as_bytes()).expect("decodes").1, data);
    }

    #[test]
    fn bad_sessions_are_errors_not_panics() {
        let b64 = |v: &Mp| base64::engine::general_purpose::STANDARD.encode(wire::write(v));
        let short = Mp::Map(vec![
            (Mp::from("sid"), Mp::from("short")),
            (Mp::from("pid"), Mp::from("BBBBBBBBBBBBBBBBBBBB")),
        ]);
        for bad in ["", "!!", "kQ==", &b64(&short), &b64(&Mp::from(1))] {
            assert!(decode("/", bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
