use super::*;

/// Parses and validates a query string's pairs; renders the filter or the refusal.
fn check(pairs: &[(&str, &str)]) -> String {
    match TaskQuery::from_pairs(pairs.iter().copied()).and_then(|q| q.validate()) {
        Ok(filter) => format!(
            "ok status={:?} repo={:?} text={:?} limit={} after={:?}",
            filter.status.map(TaskStatus::as_str),
            filter.repo.as_ref().map(RepoId::as_str),
            filter.text,
            filter.limit,
            filter.after.map(|c| (c.created_at, c.id)),
        ),
        Err(err) => format!("{} -> {err}", err.field),
    }
}

#[test]
fn queries_validate_and_refusals_name_the_parameter() {
    let cursor = TaskCursor { created_at: 1_700_000_000, id: "web/007-fix-login".into() }.encode();
    let long = "x".repeat(MAX_QUERY_CHARS + 1);
    let table: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], r#"ok status=None repo=None text=None limit=50 after=None"#),
        (
            vec![("status", "closed:success"), ("repo", "web"), ("q", "  login "), ("limit", "500")],
            r#"ok status=Some("closed:success") repo=Some("web") text=Some("login") limit=500 after=None"#,
        ),
        (
            vec![("limit", "1"), ("cursor", &cursor)],
            r#"ok status=None repo=None text=None limit=1 after=Some((1700000000, "web/007-fix-login"))"#,
        ),
        (
            vec![("status", ""), ("q", "   "), ("limit", "")],
            r#"ok status=None repo=None text=None limit=50 after=None"#,
        ),
        (vec![("limit", "0")], "limit -> limit: must be from 1 to 500, got 0"),
        (vec![("limit", "501")], "limit -> limit: must be from 1 to 500, got 501"),
        (vec![("limit", "abc")], r#"limit -> limit: "abc" is not a whole number from 1 to 500"#),
        (vec![("limit", "-3")], r#"limit -> limit: "-3" is not a whole number from 1 to 500"#),
        (
            vec![("status", "bogus")],
            r#"status -> status: unknown task status "bogus"; expected one of: open, paused, failed-closeout, closed:success, closed:blocked, closed:failed"#,
        ),
        (
            vec![("repo", "a/b")],
            r#"repo -> repo: repository id "a/b" contains '/' at position 1; only ASCII letters, digits, '-' and '_' are allowed"#,
        ),
        (vec![("q", &long)], "q -> q: is longer than 200 characters"),
        (
            vec![("cursor", "garbage")],
            "cursor -> cursor: is not a cursor this daemon issued (not hexadecimal); pass the next_cursor of a page unchanged",
        ),
        (vec![("limit", "5"), ("limit", "6")], "limit -> limit: given more than once"),
        (vec![("page", "2")], "page -> page: unknown query parameter; expected one of status, repo, q, limit, cursor"),
    ];
    for (pairs, expected) in table {
        assert_eq!(check(&pairs), expected, "{pairs:?}");
    }
}

#[test]
fn a_query_round_trips_through_its_pairs() {
    let query = TaskQuery {
        status: Some(TaskStatus::FailedCloseout),
        repo: Some(RepoId::new("web").unwrap()),
        q: Some("50% off_sale".into()),
        limit: Some(97),
        cursor: Some(TaskCursor { created_at: 5, id: "web/001-a".into() }.encode()),
    };
    assert_eq!(TaskQuery::from_pairs(query.to_pairs()).unwrap(), query);
    assert!(TaskQuery::default().to_pairs().is_empty());
}

/// Decodes `text`; renders the cursor or the error.
fn decode(text: &str) -> String {
    match TaskCursor::decode(text) {
        Ok(cursor) => format!("{} {}", cursor.created_at, cursor.id),
        Err(err) => format!("{err:?}"),
    }
}

fn hex(plain: &str) -> String {
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn cursors_round_trip_and_malformed_ones_are_refused() {
    for cursor in [
        TaskCursor { created_at: 0, id: "web/001-a".into() },
        TaskCursor { created_at: -1, id: "r_2/1234-fix-login_42".into() },
        TaskCursor { created_at: i64::MAX, id: "web/007-007".into() },
    ] {
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{text}");
        assert_eq!(TaskCursor::decode(&text), Ok(cursor));
    }
    let table: Vec<(String, &str)> = vec![
        (hex("1/1700000000/web/007-fix"), "1700000000 web/007-fix"),
        (String::new(), "Malformed"),
        ("garbage".into(), "NotHex"),
        ("abc".into(), "NotHex"),
        ("zz".into(), "NotHex"),
        ("ff".into(), "Malformed"),
        ("f".repeat(MAX_CURSOR_CHARS + 2), "TooLong"),
        (hex("2/1700000000/web/007-fix"), "Malformed"),
        (hex("1/soon/web/007-fix"), "Malformed"),
        (hex("1/1700000000"), "Malformed"),
        (hex("1/1700000000/web"), "Malformed"),
        (hex("1/1700000000/web/fix"), "Malformed"),
        (hex("1/1700000000/web/007-"), "Malformed"),
        (hex("1/1700000000/we b/007-fix"), "Malformed"),
        (hex("1/1700000000/web/007-fix/x"), "Malformed"),
    ];
    for (text, expected) in table {
        assert_eq!(decode(&text), expected, "{text}");
    }
}

#[test]
fn reasons_are_trimmed_and_bounded() {
    let check = |text: &str| match (PauseRequest { reason: text.into() }.validate()) {
        Ok(reason) => format!("ok {reason}"),
        Err(err) => err.to_string(),
    };
    assert_eq!(check("  waiting for review \n"), "ok waiting for review");
    assert_eq!(check("  "), "reason: must not be empty");
    assert_eq!(check(&"x".repeat(MAX_REASON_CHARS + 1)), "reason: is longer than 2000 characters");
    assert_eq!(ClearRequest { reason: "abandoned".into() }.validate(), Ok("abandoned".into()));
    assert!(serde_json::from_str::<PauseRequest>(r#"{"reason": "x", "force": true}"#).is_err());
}

#[test]
fn restore_commands_name_a_new_branch() {
    let table = [
        (
            "/work/web",
            "refs/qcold/snapshots/fix-login/1700000000",
            "git -C /work/web branch restored/fix-login-1700000000 refs/qcold/snapshots/fix-login/1700000000",
        ),
        (
            "/home/op/my repo",
            "refs/qcold/snapshots/fix/1700000000-1",
            "git -C '/home/op/my repo' branch restored/fix-1700000000-1 refs/qcold/snapshots/fix/1700000000-1",
        ),
        ("/r", "refs/other/x", "git -C /r branch restored/x refs/other/x"),
    ];
    for (primary, reference, expected) in table {
        assert_eq!(restore_command(primary, reference), expected);
    }
    let snapshot = TaskSnapshot::new("/r", "refs/qcold/snapshots/a/5".into(), "abc".into(), 5);
    assert_eq!(snapshot.restore, "git -C /r branch restored/a-5 refs/qcold/snapshots/a/5");
}

#[test]
fn bundles_are_found_by_file_name_only() {
    let bundle = |path: &str| Bundle { path: path.into(), status: TaskStatus::ClosedFailed, created_at: 1 };
    let bundles =
        [bundle("/s/bundles/web/001-a-5-closed-failed.zip"), bundle("/s/bundles/web/001-a-9-closed-failed.zip")];
    let found = |name: &str| bundle_named(&bundles, name).map(|b| b.path.as_str());
    assert_eq!(found("001-a-9-closed-failed.zip"), Some("/s/bundles/web/001-a-9-closed-failed.zip"));
    for name in [
        "",
        "..",
        "../001-a-5-closed-failed.zip",
        "web/001-a-5-closed-failed.zip",
        "/s/bundles/web/001-a-5-closed-failed.zip",
        "001-a-5",
    ] {
        assert_eq!(found(name), None, "{name:?}");
    }
}

#[test]
fn wire_shapes() {
    assert_eq!(serde_json::to_string(&DiffSource::Nothing).unwrap(), r#""none""#);
    assert_eq!(serde_json::to_string(&DiffSource::Worktree).unwrap(), r#""worktree""#);
    let page: TaskPage = serde_json::from_str(r#"{"tasks": []}"#).unwrap();
    assert_eq!(page, TaskPage { tasks: Vec::new(), next_cursor: None });
}
