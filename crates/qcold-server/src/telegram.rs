//! Telegram WebApp sign-in: verifying the `initData` a Mini App sends against the bot token.
//!
//! Telegram hands a Mini App a query string (`query_id=…&user={…}&auth_date=…&hash=…`, newer
//! clients add `signature`) signed with a key only the bot's owner can derive, so a phone that
//! opens the dashboard as the bot's WebApp can prove who it is without the write token. The check
//! follows Telegram's "Validating data received via the Mini App"
//! (<https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app>):
//!
//! - the data-check string is every field but `hash`, URL-decoded, sorted by key, written
//!   `key=value` and joined with `\n`;
//! - the secret is `HMAC-SHA256(key = "WebAppData", message = bot token)`;
//! - the data is genuine iff `HMAC-SHA256(key = secret, message = data-check string)` is `hash`
//!   (hex), compared in constant time.
//!
//! A genuine signature is not enough: `auth_date` must be recent (a leaked `initData` stops
//! working) and the user must be on the operator's allowlist. Nothing here does IO; the caller
//! passes `now`.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The header a Mini App sends its `initData` in.
pub const HEADER: &str = "x-telegram-init-data";

/// A browser cannot set headers on a WebSocket, so a Mini App's terminal socket offers its
/// `initData` as the subprotocol `qcold-telegram.<initData in unpadded base64url>` instead.
pub const WS_PROTOCOL_PREFIX: &str = qcold_core::terminal::TELEGRAM_PROTOCOL_PREFIX;

/// How far `auth_date` may lie in the future (clock skew between Telegram and this machine).
const FUTURE_SKEW_SECS: i64 = 300;

/// A bot token; its value is never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

/// A bot token that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a bot token looks like 123456:ABC-def…, visible ASCII without spaces")]
pub struct BotTokenError;

impl BotToken {
    /// A token from the operator's setting (`<bot id>:<secret>`, as @BotFather prints it).
    pub fn parse(value: &str) -> Result<Self, BotTokenError> {
        let value = value.trim();
        let shaped = value
            .split_once(':')
            .is_some_and(|(id, secret)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !secret.is_empty());
        if !shaped || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BotTokenError);
        }
        Ok(Self(value.to_owned()))
    }

    /// The key that signs a WebApp's `initData`: `HMAC-SHA256(key = "WebAppData", token)`.
    fn secret(&self) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"WebAppData").expect("HMAC takes a key of any length");
        mac.update(self.0.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Who may sign in through Telegram, and for how long a signature counts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The bot whose WebApp the dashboard is (`QCOLD_TELEGRAM_BOT_TOKEN`).
    pub bot_token: BotToken,
    /// Telegram user ids allowed to write (`QCOLD_TELEGRAM_ALLOWED_USERS`); empty = nobody.
    pub allowed_users: Vec<i64>,
    /// How old `auth_date` may be (`QCOLD_TELEGRAM_MAX_AGE_SECONDS`, default 24 h).
    pub max_age: Duration,
}

impl Settings {
    /// Settings for `bot_token` with nobody allowed and the default maximum age.
    pub fn new(bot_token: BotToken) -> Self {
        Self { bot_token, allowed_users: Vec::new(), max_age: Duration::from_secs(24 * 3600) }
    }
}

/// The Telegram user a verified `initData` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    /// The user's Telegram id.
    pub id: i64,
    /// The `@username`, when the user has one.
    pub username: Option<String>,
}

/// Why an `initData` does not let its sender in. Messages never quote the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitDataError {
    /// Not a Telegram `initData`: no `hash`, a repeated field, no `auth_date` or `user`.
    #[error("the Telegram init data is malformed: {0}")]
    Malformed(&'static str),
    /// The hash is not the bot's signature of the fields: forged, altered or another bot's.
    #[error("the Telegram init data is not signed by this daemon's bot")]
    BadSignature,
    /// Genuine, but `auth_date` is older than the maximum age (or too far in the future).
    #[error("the Telegram init data is stale: open the WebApp again")]
    Stale,
    /// Genuine and fresh, but the user is not on the allowlist.
    #[error("Telegram user {0} is not allowed: add the id to QCOLD_TELEGRAM_ALLOWED_USERS")]
    NotAllowed(i64),
}

/// Verifies `init_data` at Unix time `now`: the signature first (nothing unsigned is trusted),
/// then freshness, then the allowlist.
pub fn verify(init_data: &str, settings: &Settings, now: i64) -> Result<TelegramUser, InitDataError> {
    let Parsed { fields, hash } = parse(init_data)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&settings.bot_token.secret()).expect("any key length");
    mac.update(check_string(&fields).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&hash).map_err(|_| InitDataError::BadSignature)?;
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let auth_date: i64 = field("auth_date")
        .ok_or(InitDataError::Malformed("no auth_date"))?
        .parse()
        .map_err(|_| InitDataError::Malformed("auth_date is not a number"))?;
    let max_age = i64::try_from(settings.max_age.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_sub(auth_date) > max_age || auth_date.saturating_sub(now) > FUTURE_SKEW_SECS {
        return Err(InitDataError::Stale);
    }
    let user = user_of(field("user").ok_or(InitDataError::Malformed("no user"))?)?;
    if settings.allowed_users.contains(&user.id) { Ok(user) } else { Err(InitDataError::NotAllowed(user.id)) }
}

/// An `initData` split into its fields (URL-decoded, sorted by key, `hash` taken out) and the
/// decoded `hash`.
struct Parsed {
    fields: Vec<(String, String)>,
    hash: Vec<u8>,
}

fn parse(init_data: &str) -> Result<Parsed, InitDataError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut hash = None;
    for (key, value) in form_urlencoded::parse(init_data.trim().as_bytes()) {
        // A raw line break could make one field pass for two lines of the check string; Telegram
        // never sends one (JSON escapes them).
        if key.contains('\n') || value.contains('\n') {
            return Err(InitDataError::Malformed("a field with a line break"));
        }
        if key == "hash" {
            if hash.replace(value.into_owned()).is_some() {
                return Err(InitDataError::Malformed("more than one hash"));
            }
        } else if fields.iter().any(|(k, _)| *k == key) {
            return Err(InitDataError::Malformed("a repeated field"));
        } else {
            fields.push((key.into_owned(), value.into_owned()));
        }
    }
    let hash = hash.ok_or(InitDataError::Malformed("no hash"))?;
    let hash = decode_hex(&hash).ok_or(InitDataError::Malformed("the hash is not 64 hex digits"))?;
    fields.sort();
    Ok(Parsed { fields, hash })
}

/// The data-check string: `key=value` lines, sorted by key, joined with `\n`.
fn check_string(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n")
}

/// The user of a signed `user` field (JSON with at least an integer `id`).
fn user_of(json: &str) -> Result<TelegramUser, InitDataError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        id: i64,
        username: Option<String>,
    }
    let wire: Wire = serde_json::from_str(json).map_err(|_| InitDataError::Malformed("user has no numeric id"))?;
    Ok(TelegramUser { id: wire.id, username: wire.username })
}

/// 32 bytes from 64 hex digits.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let nibble = |d: u8| char::from(d).to_digit(16).and_then(|n| u8::try_from(n).ok());
    digits.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// Signs `fields` as Telegram would for `token`, returning the `initData` query string; for the
/// tests of this module and of the door.
#[cfg(test)]
pub(crate) fn sign(token: &BotToken, fields: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    sorted.sort();
    let mut mac = Hmac::<Sha256>::new_from_slice(&token.secret()).expect("any key length");
    mac.update(check_string(&sorted).as_bytes());
    let hash: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(fields.iter().copied()).append_pair("hash", &hash);
    query.finish()
}

#[cfg(test)]
mod tests;
