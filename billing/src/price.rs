//! A per-million-token price, parsed exactly from its decimal text.

use std::fmt;

/// A price in micro-USDC per one million units (tokens or images).
///
/// `$3.00 / 1M tokens` is `Price(3_000_000)`, i.e. 3 micro-USDC per token. Six decimal
/// places of USD per 1M tokens are representable exactly; more precision is refused at
/// config time rather than silently rounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    Negative,
    NotANumber(String),
    TooPrecise(String),
    TooLarge(String),
}

impl fmt::Display for PriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceError::Negative => write!(f, "price must not be negative"),
            PriceError::NotANumber(s) => write!(f, "price {s:?} is not a decimal number"),
            PriceError::TooPrecise(s) => {
                write!(
                    f,
                    "price {s:?} has more than 6 decimal places (USD per 1M tokens)"
                )
            }
            PriceError::TooLarge(s) => write!(f, "price {s:?} is too large"),
        }
    }
}

impl std::error::Error for PriceError {}

impl Price {
    pub const ZERO: Price = Price(0);

    /// From micro-USDC per 1M units.
    pub const fn from_micros_per_million(micros: u64) -> Price {
        Price(micros)
    }

    pub const fn micros_per_million(self) -> u64 {
        self.0
    }

    /// Parse a decimal USD amount such as `"3"`, `"0.075"` or `"7.5e-2"`.
    ///
    /// Parsing the text (not an `f64`) is what keeps `0.1 + 0.2` style drift out of the
    /// ledger. Exponent notation is accepted because YAML emitters print small numbers
    /// that way (`0.0000001` reads back as `1e-7`); it is shifted exactly, as text.
    pub fn parse_usd(text: &str) -> Result<Price, PriceError> {
        let expanded;
        let t = match text.trim().split_once(['e', 'E']) {
            None => text.trim(),
            Some((mantissa, exp)) => {
                expanded = expand_exponent(mantissa, exp)
                    .ok_or_else(|| PriceError::NotANumber(text.to_string()))?;
                expanded.as_str()
            }
        };
        if t.starts_with('-') {
            return Err(PriceError::Negative);
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f),
            None => (t, ""),
        };
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits_ok(whole) || !digits_ok(frac) {
            return Err(PriceError::NotANumber(text.to_string()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 6 {
            return Err(PriceError::TooPrecise(text.to_string()));
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| PriceError::TooLarge(text.to_string()))?
        };
        let mut frac_micros: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_micros += u64::from(b - b'0') * 10u64.pow(5 - i as u32);
        }
        whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac_micros))
            .filter(|v| *v <= 1_000_000_000_000) // $1M per 1M tokens is a typo, not a price
            .map(Price)
            .ok_or_else(|| PriceError::TooLarge(text.to_string()))
    }
}

/// `("1.5", "-3")` → `"0.0015"`, by moving the decimal point in the digit string.
fn expand_exponent(mantissa: &str, exp: &str) -> Option<String> {
    let exp: i32 = exp.parse().ok()?;
    if exp.abs() > 30 {
        return None;
    }
    let (sign, m) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, frac) = m.split_once('.').unwrap_or((m, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits: String = format!("{whole}{frac}");
    let point = whole.len() as i32 + exp;
    let out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    Some(format!("{sign}{out}"))
}

impl fmt::Display for Price {
    /// USD per 1M, shortest exact decimal (`3`, `0.075`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000;
        let frac = self.0 % 1_000_000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let s = format!("{frac:06}");
            write!(f, "{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(
            Price::parse_usd("3").unwrap().micros_per_million(),
            3_000_000
        );
        assert_eq!(
            Price::parse_usd("0.075").unwrap().micros_per_million(),
            75_000
        );
        assert_eq!(
            Price::parse_usd("15.000000").unwrap().micros_per_million(),
            15_000_000
        );
        assert_eq!(
            Price::parse_usd(".5").unwrap().micros_per_million(),
            500_000
        );
        assert_eq!(
            Price::parse_usd("0.000001").unwrap().micros_per_million(),
            1
        );
        assert_eq!(Price::parse_usd("0").unwrap(), Price::ZERO);
        assert_eq!(
            Price::parse_usd("7.5e-2").unwrap().micros_per_million(),
            75_000
        );
        assert_eq!(
            Price::parse_usd("1e3").unwrap().micros_per_million(),
            1_000_000_000
        );
        assert_eq!(Price::parse_usd("1E-6").unwrap().micros_per_million(), 1);
        assert!(matches!(
            Price::parse_usd("1e-7"),
            Err(PriceError::TooPrecise(_))
        ));
        assert_eq!(Price::parse_usd("-1e-7"), Err(PriceError::Negative));
    }

    #[test]
    fn refuses_bad_prices() {
        assert_eq!(Price::parse_usd("-1"), Err(PriceError::Negative));
        assert!(matches!(
            Price::parse_usd("abc"),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            Price::parse_usd("1e"),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            Price::parse_usd("e5"),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            Price::parse_usd("."),
            Err(PriceError::NotANumber(_))
        ));
        assert!(matches!(
            Price::parse_usd("0.0000001"),
            Err(PriceError::TooPrecise(_))
        ));
        assert!(matches!(
            Price::parse_usd("99999999999999999999"),
            Err(PriceError::TooLarge(_))
        ));
    }

    #[test]
    fn displays_round_trip() {
        for s in ["3", "0.075", "0.000001", "12.5"] {
            assert_eq!(Price::parse_usd(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn exponents_beyond_thirty_are_refused_not_expanded() {
        assert_eq!(Price::parse_usd("0e30").unwrap(), Price::ZERO);
        assert_eq!(Price::parse_usd("0e-30").unwrap(), Price::ZERO);
        for s in ["0e31", "0e-31", "1e400"] {
            assert!(Price::parse_usd(s).is_err(), "{s}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let text = |s: &str| Price::parse_usd(s).unwrap_err().to_string();
        assert_eq!(text("-1"), "price must not be negative");
        assert!(
            text("abc").contains("not a decimal number"),
            "{}",
            text("abc")
        );
        assert!(text("0.0000001").contains("more than 6 decimal places"));
        assert!(!text("2000000").is_empty());
    }
}
