//! Slug dedupe: a new run must not repeat work that is still unfinished in another run, even
//! under a retry-shaped variant of its slug.

use super::ItemStatus;

/// A slug with retry decorations removed: a trailing `20YYMMDD` date token, `after-repair`
/// token pairs and `p<digits>` tokens. `fix-x-after-repair-p8123` and `fix-x` share a key.
pub fn conflict_key(slug: &str) -> String {
    let tokens: Vec<&str> = slug.split('-').collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let is_last = i + 1 == tokens.len();
        if token == "after" && tokens.get(i + 1) == Some(&"repair") {
            i += 2;
            continue;
        }
        let port = token.len() > 1 && token.starts_with('p') && token[1..].bytes().all(|b| b.is_ascii_digit());
        let date = is_last && token.len() == 8 && token.starts_with("20") && token.bytes().all(|b| b.is_ascii_digit());
        if !(port || date) {
            kept.push(token);
        }
        i += 1;
    }
    kept.join("-")
}

/// An unfinished item of another run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Its run.
    pub run_id: String,
    /// Its slug.
    pub slug: String,
    /// Its status.
    pub status: ItemStatus,
}

/// A new slug that collides with unfinished work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "slug {slug} repeats {existing} ({status}) in unfinished run {run_id}; use `qcold queue append {run_id}`, `qcold queue continue {run_id}` or `qcold queue clear --run-id {run_id}`"
)]
pub struct Duplicate {
    /// The new slug.
    pub slug: String,
    /// The slug it collides with.
    pub existing: String,
    /// That item's status.
    pub status: ItemStatus,
    /// That item's run.
    pub run_id: String,
}

/// Refuses new slugs that match (exactly or by [`conflict_key`]) an unfinished item elsewhere.
pub fn check<'a>(new_slugs: impl IntoIterator<Item = &'a str>, unfinished: &[Unfinished]) -> Result<(), Duplicate> {
    for slug in new_slugs {
        let key = conflict_key(slug);
        if let Some(hit) =
            unfinished.iter().find(|u| !u.status.is_terminal() && (u.slug == slug || conflict_key(&u.slug) == key))
        {
            return Err(Duplicate {
                slug: slug.to_owned(),
                existing: hit.slug.clone(),
                status: hit.status,
                run_id: hit.run_id.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let table = [
            ("fix-x", "fix-x"),
            ("fix-x-after-repair", "fix-x"),
            ("fix-x-after-repair-p8123", "fix-x"),
            ("fix-x-20261124", "fix-x"),
            ("fix-20261124-x", "fix-20261124-x"),
            ("fix-x-p12", "fix-x"),
            ("fix-px", "fix-px"),
            ("repair-after", "repair-after"),
        ];
        for (slug, key) in table {
            assert_eq!(conflict_key(slug), key, "{slug}");
        }
    }

    #[test]
    fn unfinished_work_blocks_retry_shaped_slugs() {
        let unfinished = vec![
            Unfinished { run_id: "r1".into(), slug: "fix-x".into(), status: ItemStatus::Waiting },
            Unfinished { run_id: "r0".into(), slug: "old".into(), status: ItemStatus::Success },
        ];
        assert_eq!(check(["other", "old"], &unfinished), Ok(()), "finished work does not block");
        let err = check(["fix-x-after-repair-p9000"], &unfinished).unwrap_err();
        assert_eq!(
            err.to_string(),
            "slug fix-x-after-repair-p9000 repeats fix-x (waiting) in unfinished run r1; use `qcold queue append r1`, `qcold queue continue r1` or `qcold queue clear --run-id r1`"
        );
    }
}
