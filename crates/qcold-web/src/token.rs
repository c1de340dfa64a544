//! The write token the operator entered, kept for this browser session in `sessionStorage`
//! (never `localStorage`, never in a URL), and whether the dashboard may write.
//!
//! The daemon never serves the token; it only says whether writes need one
//! (`StateResponse::writes_need_token`). Without it the dashboard is read-only — unless Telegram
//! launched the page, whose `initData` the door takes in place of the token.

use leptos::prelude::*;

/// The `sessionStorage` key.
const KEY: &str = "qcold-write-token";

/// The session's write token, as a signal mirrored into `sessionStorage`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionToken(RwSignal<Option<String>>, StoredValue<Option<String>>);

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

impl SessionToken {
    /// The token this session holds, if any, and the `initData` of the Telegram launch, if any.
    pub(crate) fn from_session(telegram_init_data: Option<String>) -> Self {
        let stored = storage().and_then(|s| s.get_item(KEY).ok().flatten()).filter(|t| !t.is_empty());
        Self(RwSignal::new(stored), StoredValue::new(telegram_init_data))
    }

    /// The Telegram launch's `initData`, sent on writes as `X-Telegram-Init-Data`.
    pub(crate) fn telegram_init_data(self) -> Option<String> {
        self.1.get_value()
    }

    /// The token, tracked.
    pub(crate) fn get(self) -> Option<String> {
        self.0.get()
    }

    /// The token, untracked: for sending a request.
    pub(crate) fn get_untracked(self) -> Option<String> {
        self.0.get_untracked()
    }

    /// Keeps `value` (trimmed) for the session; an empty value clears it.
    pub(crate) fn set(self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            self.clear();
            return;
        }
        if let Some(storage) = storage()
            && let Err(err) = storage.set_item(KEY, value)
        {
            leptos::logging::warn!("cannot keep the write token in sessionStorage: {err:?}");
        }
        self.0.set(Some(value.to_owned()));
    }

    /// Forgets the token.
    pub(crate) fn clear(self) {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(KEY);
        }
        self.0.set(None);
    }
}

/// What the dashboard may do: the session's token, and whether the daemon needs one for writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access {
    /// The session's token.
    pub(crate) token: SessionToken,
    /// Whether the daemon refuses writes without its token.
    pub(crate) writes_need_token: Signal<bool>,
}

impl Access {
    /// Whether writes are off: the daemon needs a token the session lacks, and Telegram did not
    /// launch the page. Tracked.
    pub(crate) fn read_only(self) -> bool {
        self.writes_need_token.get() && self.token.get().is_none() && !self.telegram()
    }

    /// Whether Telegram launched the page, so writes carry its `initData`.
    pub(crate) fn telegram(self) -> bool {
        self.token.1.with_value(Option::is_some)
    }
}
