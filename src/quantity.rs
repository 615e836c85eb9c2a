//! Kubernetes resource quantities (`1Gi`, `250m`, `1.5Gi`, `1e3`) as exact values.
//!
//! The API server stores a quantity in its canonical form (`1.5Gi` becomes `1536Mi`,
//! `1024Mi` becomes `1Gi`, `0.5` becomes `500m`), so a client that compares the text it
//! applied with the text it reads back sees a difference that is not there. [`same`]
//! compares values; [`canonical`] writes the form kube-apiserver stores (the rules of
//! apimachinery's `Quantity.CanonicalizeBytes`), for the test API server.
//!
//! No crate on crates.io reproduces the canonical form (they parse, or print what was
//! parsed), hence this small module.

use std::cmp::Ordering;

/// How a quantity was written; the canonical form keeps the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`
    BinarySI,
    /// `n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E`
    DecimalSI,
    /// `1e3`, `5E-3`
    DecimalExponent,
}

/// An exact value: `mantissa × 10^exponent`, with no trailing zero in the mantissa.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
    pub format: Format,
}

/// Why a text is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct NotAQuantity;

const BINARY: [(&str, u32); 6] = [
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];
const DECIMAL: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
    ("", 0),
];

impl Quantity {
    fn new(mantissa: i128, exponent: i32, format: Format) -> Self {
        let (mut mantissa, mut exponent) = (mantissa, exponent);
        if mantissa == 0 {
            exponent = 0;
        }
        while mantissa != 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        // The API server keeps nano precision at most, rounding away from zero.
        if exponent < -9 {
            let shift = (-9 - exponent) as u32;
            let divisor = 10i128.pow(shift.min(38));
            let rounded =
                mantissa / divisor + mantissa.signum() * i128::from(mantissa % divisor != 0);
            return Self::new(rounded, -9, format);
        }
        Self {
            mantissa,
            exponent,
            format,
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The value as an integer, when it is one (and fits).
    fn as_integer(&self) -> Option<i128> {
        if self.exponent < 0 {
            return None;
        }
        10i128
            .checked_pow(self.exponent as u32)
            .and_then(|f| self.mantissa.checked_mul(f))
    }

    /// Compare two values.
    pub fn value_cmp(&self, other: &Quantity) -> Ordering {
        let low = self.exponent.min(other.exponent);
        let scale = |q: &Quantity| {
            10i128
                .checked_pow((q.exponent - low) as u32)
                .and_then(|f| q.mantissa.checked_mul(f))
        };
        match (scale(self), scale(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Far apart in magnitude: the sign and the exponent decide.
            _ => (
                self.mantissa.signum(),
                self.exponent + digits(self.mantissa),
            )
                .cmp(&(
                    other.mantissa.signum(),
                    other.exponent + digits(other.mantissa),
                )),
        }
    }
}

fn digits(n: i128) -> i32 {
    n.unsigned_abs()
        .checked_ilog10()
        .map_or(0, |d| d as i32 + 1)
}

/// Parse a quantity as the API server does.
pub fn parse(text: &str) -> Result<Quantity, NotAQuantity> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(NotAQuantity);
    }
    let digits_text = format!("{whole}{fraction}");
    let digits_text = digits_text.trim_start_matches('0');
    if digits_text.len() > 30 {
        return Err(NotAQuantity);
    }
    let mut mantissa: i128 = if digits_text.is_empty() {
        0
    } else {
        digits_text.parse().map_err(|_| NotAQuantity)?
    };
    if negative {
        mantissa = -mantissa;
    }
    let mut exponent = -(fraction.len() as i32);
    let format = if let Some((_, power)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        mantissa = mantissa
            .checked_mul(1024i128.pow(*power))
            .ok_or(NotAQuantity)?;
        Format::BinarySI
    } else if let Some((_, power)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        exponent += power;
        Format::DecimalSI
    } else if let Some(power) = suffix.strip_prefix(['e', 'E']) {
        exponent += power.parse::<i32>().map_err(|_| NotAQuantity)?;
        Format::DecimalExponent
    } else {
        return Err(NotAQuantity);
    };
    Ok(Quantity::new(mantissa, exponent, format))
}

/// Whether two texts are the same quantity (`1Gi` and `1024Mi`); texts that are not
/// quantities are compared as text.
pub fn same(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => a.value_cmp(&b) == Ordering::Equal,
        _ => a == b,
    }
}

/// The form kube-apiserver stores a quantity in.
pub fn canonical(quantity: &Quantity) -> String {
    if quantity.is_zero() {
        return "0".into();
    }
    if quantity.format == Format::BinarySI
        && let Some(mut amount) = quantity.as_integer()
        && amount.unsigned_abs() >= 1024
    {
        let mut power = 0;
        while amount % 1024 == 0 && power < 6 {
            amount /= 1024;
            power += 1;
        }
        let suffix = match power {
            0 => "",
            p => BINARY[p - 1].0,
        };
        return format!("{amount}{suffix}");
    }
    // Decimal: the exponent goes down to a multiple of three.
    let (mut mantissa, mut exponent) = (quantity.mantissa, quantity.exponent);
    match exponent.rem_euclid(3) {
        1 => {
            mantissa *= 10;
            exponent -= 1;
        }
        2 => {
            mantissa *= 100;
            exponent -= 2;
        }
        _ => {}
    }
    let suffix = match quantity.format {
        Format::DecimalExponent if exponent == 0 => String::new(),
        Format::DecimalExponent => format!("e{exponent}"),
        _ => match DECIMAL.iter().find(|(_, p)| *p == exponent) {
            Some((s, _)) => s.to_string(),
            None => format!("e{exponent}"),
        },
    };
    format!("{mantissa}{suffix}")
}

/// The stored form of a quantity text; a text that is not a quantity stays as it is.
pub fn canonical_text(text: &str) -> String {
    parse(text).map_or_else(|_| text.to_string(), |q| canonical(&q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_what_kube_apiserver_stored() {
        // Transcript 15 (findings 53): what a real server stored for what kubectl sent.
        for (sent, stored) in [
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1024Mi", "1Gi"),
            ("1Gi", "1Gi"),
            ("64Mi", "64Mi"),
            ("250m", "250m"),
            ("1", "1"),
        ] {
            assert_eq!(canonical_text(sent), stored, "{sent}");
        }
    }

    #[test]
    fn canonical_forms_follow_apimachinery() {
        for (sent, stored) in [
            ("0", "0"),
            ("0Gi", "0"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2000", "2k"),
            ("1e3", "1e3"),
            ("1500e0", "1500"),
            ("0.5Ki", "512"),
            ("1023Ki", "1023Ki"),
            ("0.1Gi", "107374182400m"),
            ("1.953125Ki", "2000"),
            ("1000Ki", "1000Ki"),
            ("100M", "100M"),
            ("12345", "12345"),
            ("0.0000000001", "1n"),
        ] {
            assert_eq!(canonical_text(sent), stored, "{sent}");
        }
    }

    #[test]
    fn values_compare_across_suffixes() {
        assert!(same("1Gi", "1024Mi"));
        assert!(same("1.5Gi", "1536Mi"));
        assert!(same("0.5", "500m"));
        assert!(same("1k", "1000"));
        assert!(!same("1G", "1Gi"));
        assert!(!same("1Gi", "2Gi"));
        assert_eq!(
            parse("2Gi")
                .expect("q")
                .value_cmp(&parse("1Gi").expect("q")),
            Ordering::Greater
        );
    }

    #[test]
    fn texts_that_are_not_quantities_are_refused() {
        for bad in ["", "Gi", "1.2.3", "1Qi", "1 Gi", "abc", "1e", "."] {
            assert_eq!(parse(bad), Err(NotAQuantity), "{bad:?}");
        }
        assert!(!same("abc", "abd"));
        assert!(same("abc", "abc"));
    }
}
