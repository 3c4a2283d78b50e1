//! The admin namespace's authentication, as Node's `initAuthenticationMiddleware`: a connect
//! middleware that lets a CONNECT through when its `auth.sessionId` is a session this server
//! handed out, or when `auth.username` and `auth.password` match (the password checked
//! against a bcrypt hash, off the runtime's threads: a check costs 2^cost rounds of blowfish,
//! ~50 ms at cost 10); a socket that logged in with credentials gets a `session` event with a
//! new session id once connected. Anything else: CONNECT_ERROR "invalid credentials".
//!
//! Sessions live in this process (Node's `InMemoryStore`), never expire, and only a correct
//! password makes one: their number is bounded by the logins of people who know it.

use super::AdminError;
use crate::error::ConnectError;
use crate::namespace::{Namespace, Socket};
use crate::sid::Sid;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How the dashboard authenticates ([`super::AdminOptions::auth`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminAuth {
    /// Not set: [`super::instrument`] refuses it (Node's `auth` option has no default).
    Unset,
    /// No authentication: anyone who reaches the admin namespace administers the server.
    None,
    /// The CONNECT's `auth` must carry this `username`, and a `password` whose bcrypt hash
    /// is `password_hash` (build it with [`Self::basic`], which checks the hash).
    Basic {
        /// The user name.
        username: String,
        /// The password's bcrypt hash (`$2a$`, `$2b$` or `$2y$`).
        password_hash: String,
    },
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unset => f.write_str("Unset"),
            Self::None => f.write_str("None"),
            // The hash stays out of logs.
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl AdminAuth {
    /// Basic authentication with `username` and the bcrypt hash of the password (as Node's
    /// `{type: "basic", username, password}` takes it: `bcrypt.hashSync(password, 10)`).
    ///
    /// # Errors
    /// [`AdminError::NotBcrypt`]: `password_hash` is not a bcrypt hash.
    pub fn basic(
        username: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Result<Self, AdminError> {
        let password_hash = password_hash.into();
        password_hash
            .parse::<bcrypt::HashParts>()
            .map_err(|e| AdminError::NotBcrypt(e.to_string()))?;
        Ok(Self::Basic {
            username: username.into(),
            password_hash,
        })
    }
}

/// The credentials to check, and the sessions handed out.
#[derive(Clone)]
pub(super) struct Checker(Arc<Inner>);

struct Inner {
    /// `None`: no authentication.
    basic: Option<(String, String)>,
    sessions: Mutex<HashSet<String>>,
    /// Sockets that logged in with credentials and wait for their `session` event (sent
    /// once connected: a socket in a middleware cannot emit yet).
    pending: Mutex<HashMap<Sid, String>>,
}

/// At most this many sockets wait for their `session` event; past it the oldest are
/// forgotten (a socket that passed the middleware and lost its connection before connecting
/// leaves its entry behind).
const MAX_PENDING: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Checker {
    pub(super) fn new(auth: AdminAuth) -> Result<Self, AdminError> {
        let basic = match auth {
            AdminAuth::Unset => return Err(AdminError::AuthNotSet),
            AdminAuth::None => {
                tracing::warn!("admin UI: authentication is disabled");
                None
            }
            AdminAuth::Basic {
                username,
                password_hash,
            } => {
                password_hash
                    .parse::<bcrypt::HashParts>()
                    .map_err(|e| AdminError::NotBcrypt(e.to_string()))?;
                Some((username, password_hash))
            }
        };
        Ok(Self(Arc::new(Inner {
            basic,
            sessions: Mutex::default(),
            pending: Mutex::default(),
        })))
    }

    /// Adds the middleware to the admin namespace (nothing without authentication).
    pub(super) fn install(&self, namespace: &Namespace) {
        if self.0.basic.is_none() {
            return;
        }
        let checker = self.clone();
        namespace.use_middleware(move |socket: Socket| {
            let checker = checker.clone();
            async move { checker.check(&socket).await }
        });
    }

    async fn check(&self, socket: &Socket) -> Result<(), ConnectError> {
        let refused = || ConnectError::new("invalid credentials");
        let Some((username, hash)) = &self.0.basic else {
            return Ok(());
        };
        let auth = socket.auth();
        if let Some(Value::String(session)) = auth.get("sessionId")
            && lock(&self.0.sessions).contains(session)
        {
            return Ok(());
        }
        if auth.get("username").and_then(Value::as_str) != Some(username.as_str()) {
            return Err(refused());
        }
        let Some(password) = auth.get("password").and_then(Value::as_str) else {
            return Err(refused());
        };
        let (password, hash) = (password.to_owned(), hash.clone());
        // bcrypt is slow on purpose: not on the connection's task.
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .is_ok_and(|r| r.unwrap_or(false));
        if !matches {
            return Err(refused());
        }
        let session = new_session_id();
        lock(&self.0.sessions).insert(session.clone());
        let mut pending = lock(&self.0.pending);
        if pending.len() >= MAX_PENDING {
            pending.clear();
        }
        pending.insert(socket.id(), session);
        Ok(())
    }

    /// A socket connected: the session id it earned, if it logged in with credentials.
    pub(super) fn greet(&self, socket: &Socket) {
        let session = lock(&self.0.pending).remove(&socket.id());
        if let Some(session) = session {
            let _ = socket.emit("session", &session);
        }
    }
}

/// 8 random bytes in hex, as Node's `randomBytes(8).toString("hex")`.
fn new_session_id() -> String {
    let mut raw = [0u8; 8];
    if getrandom::fill(&mut raw).is_err() {
        // No OS randomness: a socket id is random enough to be unguessable here too.
        return Sid::random().to_string();
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
