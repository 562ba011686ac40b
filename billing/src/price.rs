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

    /// A USD amount per token (price lists such as LiteLLM's write `1.5e-07` or
    /// `0.00000015`) as a price per 1M tokens, from its decimal text: the point moves six
    /// places, no float is involved. A value with more than six decimals per 1M is rounded
    /// **up** to the next micro-USD ([`PerToken::Up`]): a price below the provider's would serve
    /// every token below cost. One exception: a value written with a float's 15 to 17
    /// significant digits whose digits past the sixth decimal (per 1M) begin with six zeros is
    /// float noise in the list (`1.6000000000000001e-06`, someone's `0.8e-6 * 2`): those digits
    /// are dropped ([`PerToken::Noise`]), they are no price.
    pub fn parse_usd_per_token(text: &str) -> Result<(Price, PerToken), PriceError> {
        let t = text.trim();
        let (mantissa, exp) = match t.split_once(['e', 'E']) {
            None => (t, 0),
            Some((m, e)) => (
                m,
                e.parse::<i32>()
                    .map_err(|_| PriceError::NotANumber(text.to_string()))?,
            ),
        };
        let per_million = expand_exponent(mantissa, &(exp.saturating_add(6)).to_string())
            .ok_or_else(|| PriceError::NotANumber(text.to_string()))?;
        match Price::parse_usd(&per_million) {
            Err(PriceError::TooPrecise(_)) => {
                let (whole, frac) = per_million
                    .split_once('.')
                    .expect("too precise has a point");
                let kept = Price::parse_usd(&format!("{whole}.{}", &frac[..6]))?;
                let significant = mantissa
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .skip_while(|b| *b == b'0')
                    .count();
                if significant >= 15 && frac[6..].starts_with("000000") {
                    return Ok((kept, PerToken::Noise));
                }
                // The dropped digits are not all zero (else it was not too precise).
                let up = kept.0.checked_add(1).filter(|v| *v <= 1_000_000_000_000);
                up.map(|v| (Price(v), PerToken::Up))
                    .ok_or_else(|| PriceError::TooLarge(text.to_string()))
            }
            other => other.map(|p| (p, PerToken::Exact)),
        }
    }
}

/// How [`Price::parse_usd_per_token`] arrived at its price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerToken {
    /// The text's value, exactly.
    Exact,
    /// Rounded up to the next micro-USD per 1M.
    Up,
    /// Float noise past the sixth decimal dropped.
    Noise,
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
    fn per_token_prices_move_the_point_exactly() {
        use PerToken::*;
        let p = |t: &str| Price::parse_usd_per_token(t).unwrap();
        assert_eq!(p("1.5e-07"), (Price(150_000), Exact)); // $0.15 / 1M
        assert_eq!(p("0.00000015"), (Price(150_000), Exact));
        assert_eq!(p("2.5e-06"), (Price(2_500_000), Exact));
        assert_eq!(p("3e-06"), (Price(3_000_000), Exact));
        assert_eq!(p("0"), (Price(0), Exact));
        assert_eq!(p("1E-12"), (Price(1), Exact)); // exactly one micro-USD per 1M
                                                   // More precision than a price holds: up, never down.
        assert_eq!(p("1.6666667e-07"), (Price(166_667), Up));
        assert_eq!(p("1.41953125e-07"), (Price(141_954), Up));
        assert_eq!(p("1e-13"), (Price(1), Up));
        // A float's noise (17 significant digits, zeros after the sixth decimal) is dropped;
        // noise upwards (…999) rounds up to the value meant anyway.
        assert_eq!(p("1.6000000000000001e-06"), (Price(1_600_000), Noise));
        assert_eq!(p("2.9999900000000002e-06"), (Price(2_999_990), Noise));
        assert_eq!(p("9.499999999999999e-07"), (Price(950_000), Up));
        // Not a float's repr: a real seventh decimal is rounded up.
        assert_eq!(p("1.0000001e-06"), (Price(1_000_001), Up));
        assert_eq!(
            Price::parse_usd_per_token("-1e-07"),
            Err(PriceError::Negative)
        );
        assert!(Price::parse_usd_per_token("1e-07x").is_err());
        assert!(Price::parse_usd_per_token("2").is_err()); // $2M per 1M tokens is no price
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
