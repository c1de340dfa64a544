//! Telegram's launch parameters, read from the URL fragment a Telegram client opens the WebApp
//! with (`#tgWebAppData=…&tgWebAppThemeParams=…`): pure parsing, no browser.

/// What a Telegram client handed the page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Launch {
    /// The raw `initData` query string, exactly as the daemon's door verifies it.
    pub(crate) init_data: String,
    /// The theme as `(CSS variable, colour)` pairs, for the colours this dashboard uses.
    pub(crate) theme: Vec<(&'static str, String)>,
}

/// Telegram's theme keys, and the dashboard's CSS variable each one sets.
const THEME: [(&str, &str); 5] = [
    ("bg_color", "--bg"),
    ("secondary_bg_color", "--panel"),
    ("text_color", "--text"),
    ("hint_color", "--muted"),
    ("section_separator_color", "--line"),
];

/// The launch parameters in `fragment` (with or without its `#`); `None` without `tgWebAppData`.
pub(crate) fn from_fragment(fragment: &str) -> Option<Launch> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let mut launch: Option<Launch> = None;
    let mut theme_json = None;
    for pair in fragment.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "tgWebAppData" => {
                let init_data = decode(value)?;
                if init_data.is_empty() {
                    return None;
                }
                launch = Some(Launch { init_data, theme: Vec::new() });
            }
            "tgWebAppThemeParams" => theme_json = decode(value),
            _ => {}
        }
    }
    let mut launch = launch?;
    launch.theme = theme_json.as_deref().map(theme).unwrap_or_default();
    Some(launch)
}

/// The dashboard's CSS variables from Telegram's theme JSON (`{"bg_color":"#17212b",…}`); keys
/// it does not use and values that are not `#rgb`/`#rrggbb` colours are left out.
pub(crate) fn theme(json: &str) -> Vec<(&'static str, String)> {
    let Ok(serde_json::Value::Object(params)) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    THEME
        .iter()
        .filter_map(|(key, var)| {
            let colour = params.get(*key)?.as_str()?;
            is_colour(colour).then(|| (*var, colour.to_owned()))
        })
        .collect()
}

fn is_colour(value: &str) -> bool {
    value.strip_prefix('#').is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Percent-decodes a query value (`+` is a space, as in forms); `None` for a broken escape or
/// bytes that are not UTF-8.
fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_yields_the_raw_init_data_and_the_theme() {
        let fragment = "#tgWebAppData=query_id%3DAAH%26user%3D%257B%2522id%2522%253A4242%257D%26hash%3Dab12\
                        &tgWebAppVersion=7.0&tgWebAppPlatform=android\
                        &tgWebAppThemeParams=%7B%22bg_color%22%3A%22%2317212b%22%2C%22text_color%22%3A%22%23f5f5f5%22%2C%22hint_color%22%3A%22red%3B%22%7D";
        let launch = from_fragment(fragment).expect("launch parameters");
        assert_eq!(launch.init_data, "query_id=AAH&user=%7B%22id%22%3A4242%7D&hash=ab12", "decoded once, not twice");
        assert_eq!(
            launch.theme,
            [("--bg", "#17212b".to_owned()), ("--text", "#f5f5f5".to_owned())],
            "no CSS from a non-colour"
        );
    }

    #[test]
    fn without_init_data_there_is_no_launch() {
        for fragment in ["", "#", "#/tasks", "#tgWebAppVersion=7.0", "#tgWebAppData=", "#tgWebAppData=%zz"] {
            assert_eq!(from_fragment(fragment), None, "{fragment:?}");
        }
        assert_eq!(from_fragment("tgWebAppData=a%3D1").map(|l| l.init_data), Some("a=1".to_owned()));
    }

    #[test]
    fn theme_takes_only_known_keys_with_colours() {
        assert_eq!(
            theme(r##"{"secondary_bg_color":"#fff","link_color":"#00f","bg_color":"#12345"}"##),
            [("--panel", "#fff".to_owned())]
        );
        assert!(theme("not json").is_empty());
    }
}
