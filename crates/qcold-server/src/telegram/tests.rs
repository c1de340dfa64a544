use super::*;

const TOKEN: &str = "123456789:TEST-token-for-qcold-only";
const NOW: i64 = 1_767_225_600 + 60;

/// Made once outside Rust, with Python's `hmac` and `hashlib`, so a mistake shared by [`sign`]
/// and [`verify`] cannot hide:
///
/// ```text
/// fields = {"query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
///           "user": '{"id":4242,"first_name":"Ann Lee","username":"ann"}',
///           "auth_date": "1767225600", "signature": "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"}
/// dcs = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
/// secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
/// hash = hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
/// urllib.parse.urlencode({**fields, "hash": hash}, quote_via=urllib.parse.quote)
/// ```
const PYTHON_VECTOR: &str = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A4242%2C%22first_name%22%3A%22Ann%20Lee%22%2C%22username%22%3A%22ann%22%7D&auth_date=1767225600&signature=c2lnbmF0dXJlLW5vdC1jaGVja2Vk&hash=6e4c54cf205a1e9c8f167d5511ac9faae75e6d4619fd4108599e559b48dd5233";

fn settings(allowed: &[i64]) -> Settings {
    Settings { allowed_users: allowed.to_vec(), ..Settings::new(BotToken::parse(TOKEN).unwrap()) }
}

/// Verifies `init_data` for a daemon that allows user 4242, rendered as `ok <id>` or the error.
fn check(init_data: &str) -> String {
    match verify(init_data, &settings(&[4242]), NOW) {
        Ok(user) => format!("ok {}", user.id),
        Err(err) => format!("{err:?}"),
    }
}

fn signed(fields: &[(&str, &str)]) -> String {
    sign(&BotToken::parse(TOKEN).unwrap(), fields)
}

const USER: &str = r#"{"id":4242,"first_name":"Ann","username":"ann"}"#;
const OTHER: &str = r#"{"id":7,"first_name":"Eve"}"#;

#[test]
fn an_independently_signed_vector_verifies() {
    let user = verify(PYTHON_VECTOR, &settings(&[4242]), NOW).unwrap();
    assert_eq!(user, TelegramUser { id: 4242, username: Some("ann".into()) });
    // One character of the hash, or of a signed field, changed: refused.
    let altered_hash = PYTHON_VECTOR.replace("d5233", "d5234");
    assert_eq!(check(&altered_hash), "BadSignature");
    let altered_field = PYTHON_VECTOR.replace("auth_date=1767225600", "auth_date=1767225601");
    assert_eq!(check(&altered_field), "BadSignature");
}

#[test]
fn init_data_is_judged_by_signature_then_age_then_allowlist() {
    let now = NOW.to_string();
    let old = (NOW - 24 * 3600 - 1).to_string();
    let edge = (NOW - 24 * 3600).to_string();
    let future = (NOW + 301).to_string();
    let skewed = (NOW + 300).to_string();
    let other_bot = sign(&BotToken::parse("987:another-bot").unwrap(), &[("auth_date", &now), ("user", USER)]);
    let good = signed(&[("query_id", "q"), ("auth_date", &now), ("user", USER)]);
    let table: Vec<(String, &str)> = vec![
        (good.clone(), "ok 4242"),
        (signed(&[("auth_date", &now), ("user", USER), ("signature", "abc")]), "ok 4242"),
        (signed(&[("auth_date", &edge), ("user", USER)]), "ok 4242"),
        (signed(&[("auth_date", &skewed), ("user", USER)]), "ok 4242"),
        (signed(&[("auth_date", &old), ("user", USER)]), "Stale"),
        (signed(&[("auth_date", &future), ("user", USER)]), "Stale"),
        (signed(&[("auth_date", &now), ("user", OTHER)]), "NotAllowed(7)"),
        (other_bot, "BadSignature"),
        // Fields added after signing, or the user swapped, break the signature.
        (format!("{good}&extra=1"), "BadSignature"),
        (good.replace("4242", "7"), "BadSignature"),
        (signed(&[("auth_date", &now)]), r#"Malformed("no user")"#),
        (signed(&[("user", USER)]), r#"Malformed("no auth_date")"#),
        (signed(&[("auth_date", "yesterday"), ("user", USER)]), r#"Malformed("auth_date is not a number")"#),
        (signed(&[("auth_date", &now), ("user", r#"{"id":"4242"}"#)]), r#"Malformed("user has no numeric id")"#),
        (
            signed(&[("auth_date", &now), ("user", USER), ("a", "x\nuser=y")]),
            r#"Malformed("a field with a line break")"#,
        ),
        (format!("auth_date={now}&user=%7B%7D"), r#"Malformed("no hash")"#),
        (format!("{good}&hash=00"), r#"Malformed("more than one hash")"#),
        (format!("auth_date={now}&auth_date=1&hash={}", "0".repeat(64)), r#"Malformed("a repeated field")"#),
        (format!("auth_date={now}&hash=xyz"), r#"Malformed("the hash is not 64 hex digits")"#),
        (format!("auth_date={now}&hash={}", "g".repeat(64)), r#"Malformed("the hash is not 64 hex digits")"#),
        (String::new(), r#"Malformed("no hash")"#),
    ];
    for (init_data, want) in table {
        assert_eq!(check(&init_data), want, "{init_data}");
    }
}

#[test]
fn nobody_is_allowed_by_default_and_the_age_is_a_setting() {
    let now = NOW.to_string();
    let good = signed(&[("auth_date", &now), ("user", USER)]);
    assert_eq!(verify(&good, &settings(&[]), NOW), Err(InitDataError::NotAllowed(4242)));
    let short = Settings { max_age: Duration::from_secs(10), ..settings(&[4242]) };
    assert_eq!(verify(&good, &short, NOW + 10).map(|u| u.id), Ok(4242));
    assert_eq!(verify(&good, &short, NOW + 11), Err(InitDataError::Stale));
}

#[test]
fn bot_tokens_never_print_and_must_look_like_one() {
    let token = BotToken::parse(TOKEN).unwrap();
    assert_eq!(format!("{token:?}"), "BotToken(<redacted>)");
    assert!(!format!("{:?}", settings(&[1])).contains("TEST-token"));
    for bad in ["", "no-colon", ":secret", "12ab:secret", "123:", "123:has space"] {
        assert_eq!(BotToken::parse(bad), Err(BotTokenError), "{bad:?}");
    }
    for err in [InitDataError::BadSignature, InitDataError::Stale, InitDataError::Malformed("no hash")] {
        assert!(!err.to_string().contains("4242"), "{err}");
    }
}
