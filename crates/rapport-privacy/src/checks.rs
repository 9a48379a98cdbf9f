//! Check-digit and range validation for identifiers: payment cards (Luhn), IBAN (ISO 7064 mod 97-10),
//! US SSN ranges, UK National Insurance numbers and NHS numbers (mod 11).

/// Digits of `s`, ignoring spaces and dashes; `None` if anything else is there.
pub fn digits(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c as u8 - b'0'),
            ' ' | '-' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// The Luhn checksum used by payment cards.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut d = u32::from(d);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A payment card number: 13-19 digits, a known issuer prefix and a valid Luhn checksum.
pub fn is_card(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) || !luhn(digits) {
        return false;
    }
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let p2 = prefix(2);
    let p4 = prefix(4);
    digits[0] == 4 // Visa
        || (51..=55).contains(&p2) || (2221..=2720).contains(&p4) // Mastercard
        || p2 == 34 || p2 == 37 // American Express
        || p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&prefix(3)) // Diners Club
        || p4 == 6011 || p2 == 65 || (644..=649).contains(&prefix(3)) // Discover
        || (3528..=3589).contains(&p4) // JCB
        || p2 == 62 // UnionPay
        || p2 == 50 || (56..=69).contains(&p2) // Maestro
}

/// An IBAN: country code, check digits and BBAN whose mod-97 remainder is 1 (spaces ignored).
pub fn is_iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut remainder = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b.to_ascii_uppercase() - b'A') + 10
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// A US Social Security number outside the ranges the SSA never issues.
pub fn is_ssn(digits: &[u8]) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let area = digits[..3].iter().fold(0u32, |a, &d| a * 10 + u32::from(d));
    let group = digits[3..5]
        .iter()
        .fold(0u32, |a, &d| a * 10 + u32::from(d));
    let serial = digits[5..].iter().fold(0u32, |a, &d| a * 10 + u32::from(d));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
        // Numbers used in advertising, never valid.
        && !(area == 78 && group == 5 && serial == 1120)
        && !(area == 219 && group == 9 && serial == 9999)
}

/// A UK National Insurance number (two prefix letters, six digits, suffix A-D).
pub fn is_nino(s: &str) -> bool {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact.len() != 9 {
        return false;
    }
    let (a, b) = (compact[0], compact[1]);
    let bad_first = b"DFIQUV";
    let bad_second = b"DFIQUVO";
    let banned = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    a.is_ascii_uppercase()
        && b.is_ascii_uppercase()
        && !bad_first.contains(&a)
        && !bad_second.contains(&b)
        && !banned.iter().any(|p| p[0] == a && p[1] == b)
        && compact[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&compact[8])
}

/// An NHS number: ten digits whose last is the mod-11 check digit of the first nine.
pub fn is_nhs(digits: &[u8]) -> bool {
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    match check {
        11 => digits[9] == 0,
        10 => false,
        c => u32::from(digits[9]) == c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<u8> {
        digits(s).unwrap_or_default()
    }

    #[test]
    fn cards() {
        assert!(is_card(&d("4111 1111 1111 1111")));
        assert!(is_card(&d("5500-0000-0000-0004")));
        assert!(is_card(&d("378282246310005")));
        assert!(!is_card(&d("4111 1111 1111 1112")), "Luhn-invalid");
        assert!(
            !is_card(&d("1234 5678 9012 3452")),
            "no issuer starts with 1"
        );
        assert!(!is_card(&d("4111")));
    }

    #[test]
    fn ibans() {
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(is_iban("DE89370400440532013000"));
        assert!(is_iban("NO9386011117947"));
        assert!(!is_iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!is_iban("XX00"));
    }

    #[test]
    fn ssns() {
        assert!(is_ssn(&d("536-22-1234")));
        assert!(!is_ssn(&d("000-12-3456")));
        assert!(!is_ssn(&d("666-12-3456")));
        assert!(!is_ssn(&d("912-12-3456")));
        assert!(!is_ssn(&d("123-00-4567")));
        assert!(!is_ssn(&d("078-05-1120")));
    }

    #[test]
    fn ninos() {
        assert!(is_nino("AB 12 34 56 C"));
        assert!(is_nino("JG103759A"));
        assert!(!is_nino("GB123456A"));
        assert!(!is_nino("DA123456A"));
        assert!(!is_nino("AB123456E"));
    }

    #[test]
    fn nhs_numbers() {
        assert!(is_nhs(&d("943 476 5919")));
        assert!(!is_nhs(&d("943 476 5918")));
    }
}
