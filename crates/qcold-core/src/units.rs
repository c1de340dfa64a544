//! Human formatting of quantities, shared by the CLI tables and the dashboard.

/// Formats a byte count with binary units: `512 B`, `1.5 KiB`, `16.0 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss is irrelevant for one decimal of display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Formats a duration in seconds as its two largest units: `45s`, `3m 20s`, `2h 5m`, `4d 1h`.
pub fn format_duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        let table = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (16 * 1024 * 1024 * 1024, "16.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (n, want) in table {
            assert_eq!(format_bytes(n), want, "{n}");
        }
    }

    #[test]
    fn durations() {
        let table = [(0, "0s"), (59, "59s"), (200, "3m 20s"), (7_500, "2h 5m"), (352_800, "4d 2h")];
        for (n, want) in table {
            assert_eq!(format_duration(n), want, "{n}");
        }
    }
}
