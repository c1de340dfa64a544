use expect_test::{Expect, expect};

use super::*;

/// Feeds `lines` to a fresh parser and shows every notice it yields, one per line.
fn check(lines: &[&[u8]], expect: Expect) {
    let mut parser = Parser::default();
    let shown: Vec<String> = lines
        .iter()
        .filter_map(|line| parser.feed(line))
        .map(|notice| match notice {
            Notice::Output { pane, data } => format!("output {pane} {:?}", String::from_utf8_lossy(&data)),
            Notice::Reply(reply) => format!(
                "reply from_input={} ok={} {:?}",
                reply.from_input,
                reply.ok,
                reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>()
            ),
            Notice::Exit { reason } => format!("exit {reason:?}"),
        })
        .collect();
    expect.assert_eq(&shown.join("\n"));
}

#[test]
fn notifications_and_blocks() {
    check(
        &[
            b"%begin 1796163846 263 0",
            b"%end 1796163846 263 0",
            b"%session-changed $0 qcold-x",
            b"%output %0 got:hi\\015\\012",
            b"%begin 1796163848 281 1",
            b"%0 0 3",
            b"%end 1796163848 280 1",
            b"",
            b"%end 1796163848 281 1",
            b"%layout-change @0 a87d,100x30,0,0,0 a87d,100x30,0,0,0 *",
            b"%begin 1796163850 288 1",
            b"parse error: unknown command: bogus-cmd",
            b"%error 1796163850 288 1",
            b"%output %12 ",
            b"%exit",
            b"%exit server exited",
        ],
        expect![[r#"
            reply from_input=false ok=true []
            output %0 "got:hi\r\n"
            reply from_input=true ok=true ["%0 0 3", "%end 1796163848 280 1", ""]
            reply from_input=true ok=false ["parse error: unknown command: bogus-cmd"]
            output %12 ""
            exit None
            exit Some("server exited")"#]],
    );
    check(
        &[b"%begin 1 2 0", b"can't find session: nope", b"%error 1 2 0", b"%exit"],
        expect![[r#"
            reply from_input=false ok=false ["can't find session: nope"]
            exit None"#]],
    );
    check(&[b"%window-renamed @1 sleep", b"%sessions-changed", b"%exiting"], expect![""]);
}

#[test]
fn octal_escapes() {
    let cases: [(&[u8], &[u8]); 7] = [
        (b"plain", b"plain"),
        (b"a\\015\\012", b"a\r\n"),
        (b"\\033[31mred\\033[0m", b"\x1b[31mred\x1b[0m"),
        (b"back\\134slash", b"back\\slash"),
        (b"\xe2\x82\xac raw utf-8", "\u{20ac} raw utf-8".as_bytes()),
        (b"short \\01 and \\8 and trailing \\", b"short \\01 and \\8 and trailing \\"),
        (b"\\777 is no byte", b"\\777 is no byte"),
    ];
    for (escaped, raw) in cases {
        assert_eq!(decode_octal(escaped), raw, "{}", String::from_utf8_lossy(escaped));
    }
}

#[test]
fn commands() {
    let pane = Cursor::parse(b"%7 0 0 1").unwrap().pane;
    expect![[r#"["send-keys -t %7 -H 68 69 0d", "send-keys -t %7 -H 1b 5b 41 e2 82 ac 27 3b 20 24 28 72 6d 29"]"#]]
        .assert_eq(&format!(
            "{:?}",
            [type_bytes(&pane, b"hi\r"), type_bytes(&pane, "\x1b[A\u{20ac}'; $(rm)".as_bytes())].concat()
        ));
    let long = type_bytes(&pane, &[b'x'; KEYS_PER_COMMAND * 2 + 1]);
    assert_eq!(long.len(), 3, "input is split into bounded commands");
    assert!(long[2].ends_with(" -H 78"));
    assert!(type_bytes(&pane, b"").is_empty());
    assert_eq!(press(&pane, Key::CtrlC), "send-keys -t %7 C-c");
    assert_eq!(press(&pane, Key::PageUp), "send-keys -t %7 PPage");
    assert_eq!(resize(120, 40), "refresh-client -C 120x40");
    expect![[r#"capture-pane -p -e -t =qcold-a1:0.0 ; display-message -p -t =qcold-a1:0.0 '#{pane_id} #{cursor_x} #{cursor_y} #{cursor_flag}'"#]]
        .assert_eq(&screen("=qcold-a1:0.0").unwrap());
    assert_eq!(screen("=x:0.0 ; kill-server"), None);
    assert_eq!(screen("x'y"), None);
    assert_eq!(screen(""), None);
}

#[test]
fn cursor_replies() {
    let parse = |line: &[u8]| Cursor::parse(line).map(|c| (c.pane.as_str().to_owned(), c.x, c.y, c.visible));
    assert_eq!(parse(b"%3 12 4 1"), Some(("%3".into(), 12, 4, true)));
    assert_eq!(parse(b"%0 0 0 0"), Some(("%0".into(), 0, 0, false)));
    for bad in [&b"%3 12 4"[..], b"3 12 4 1", b"% 1 2 1", b"%3 x 4 1", b"%3 1 2 1 extra", b"%3a 1 2 1", b""] {
        assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn screens() {
    let cursor = Cursor::parse(b"%0 3 1 1").unwrap();
    let lines: Vec<Vec<u8>> = vec![b"\x1b[31mred\x1b[39m plain".to_vec(), b"got:".to_vec(), Vec::new(), Vec::new()];
    expect![[r#""\u{1b}[0m\u{1b}[H\u{1b}[2J\u{1b}[1;1H\u{1b}[31mred\u{1b}[39m plain\u{1b}[2;1Hgot:\u{1b}[0m\u{1b}[2;4H\u{1b}[?25h""#]]
        .assert_eq(&format!("{:?}", String::from_utf8_lossy(&render(&lines, &cursor))));
    let hidden = Cursor::parse(b"%0 0 0 0").unwrap();
    expect![[r#""\u{1b}[0m\u{1b}[H\u{1b}[2J\u{1b}[0m\u{1b}[1;1H\u{1b}[?25l""#]]
        .assert_eq(&format!("{:?}", String::from_utf8_lossy(&render(&[], &hidden))));
}
