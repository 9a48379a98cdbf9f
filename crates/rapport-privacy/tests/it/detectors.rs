//! True and false cases for every detector, in formats from several countries.

use crate::found;
use rapport_privacy::EntityKind::{self, *};

const POSITIVE: &[(&str, EntityKind, &str)] = &[
    (
        "Write to ann.smith+tag@example.co.uk please",
        Email,
        "ann.smith+tag@example.co.uk",
    ),
    (
        "Call me on +44 20 7946 0958 after six",
        Phone,
        "+44 20 7946 0958",
    ),
    ("my cell is (415) 555-2671", Phone, "(415) 555-2671"),
    ("Reach me at +49 30 901820", Phone, "+49 30 901820"),
    ("mon numéro: +33 1 42 68 53 00", Phone, "+33 1 42 68 53 00"),
    ("Ring 07700 900123 any time", Phone, "07700 900123"),
    (
        "My card 4111 1111 1111 1111 was declined",
        CreditCard,
        "4111 1111 1111 1111",
    ),
    (
        "Amex 3782-822463-10005 please",
        CreditCard,
        "3782-822463-10005",
    ),
    (
        "charge 5500000000000004 instead",
        CreditCard,
        "5500000000000004",
    ),
    (
        "IBAN GB82 WEST 1234 5698 7654 32 for the refund",
        Iban,
        "GB82 WEST 1234 5698 7654 32",
    ),
    (
        "Bitte an DE89370400440532013000 überweisen",
        Iban,
        "DE89370400440532013000",
    ),
    (
        "Mon IBAN est FR14 2004 1010 0505 0001 3M02 606",
        Iban,
        "FR14 2004 1010 0505 0001 3M02 606",
    ),
    ("My SSN is 536-22-1234", UsSsn, "536-22-1234"),
    ("NI number AB 12 34 56 C", UkNino, "AB 12 34 56 C"),
    ("My NHS number is 943 476 5919", NhsNumber, "943 476 5919"),
    (
        "Login came from 203.0.113.42 last night",
        IpAddress,
        "203.0.113.42",
    ),
    (
        "and from 2001:db8::8a2e:370:7334 too",
        IpAddress,
        "2001:db8::8a2e:370:7334",
    ),
    (
        "Open https://shop.example.com/account?email=ann%40example.com&tab=2",
        Url,
        "https://shop.example.com/account?email=ann%40example.com&tab=2",
    ),
    (
        "I live at 221B Baker Street, London",
        StreetAddress,
        "221B Baker Street",
    ),
    (
        "Send it to 1600 Pennsylvania Avenue NW",
        StreetAddress,
        "1600 Pennsylvania Avenue",
    ),
    (
        "Adresse: 12 rue de Rivoli 75001 Paris",
        StreetAddress,
        "12 rue de Rivoli 75001",
    ),
    (
        "Meine Adresse ist Hauptstraße 5",
        StreetAddress,
        "Hauptstraße 5",
    ),
    (
        "Flat 3, 10 Downing Street",
        StreetAddress,
        "Flat 3, 10 Downing Street",
    ),
    ("postcode SW1A 2AA", Postcode, "SW1A 2AA"),
    ("Ottawa K1A 0B1", Postcode, "K1A 0B1"),
    ("my zip code is 94103", Postcode, "94103"),
    ("I was born on 12/03/1985", DateOfBirth, "12/03/1985"),
    ("date of birth: March 5, 1961", DateOfBirth, "March 5, 1961"),
    ("Hi, my name is Priya Natarajan", Person, "Priya Natarajan"),
    ("Thanks for your help, Sarah", Person, "Sarah"),
    ("Mr. Okafor called yesterday", Person, "Mr. Okafor"),
    (
        "please add Dr. Jennifer Holst to the account",
        Person,
        "Dr. Jennifer Holst",
    ),
    (
        "I spoke to Katarzyna Wiśniewska on Monday",
        Person,
        "Katarzyna Wiśniewska",
    ),
    ("my name is borna jerković", Person, "borna jerković"),
    ("my password is Tr0ub4dor&3", Secret, "Tr0ub4dor&3"),
    ("the verification code is 482913", Secret, "482913"),
    (
        "key sk_live_abcdefghijklmnop1234 leaked",
        Secret,
        "sk_live_abcdefghijklmnop1234",
    ),
    (
        "driver's license number D1234-5678-9012",
        DriverLicense,
        "D1234-5678-9012",
    ),
];

/// Texts with number shapes or words that must not be taken for the given kind.
const NEGATIVE: &[(&str, EntityKind)] = &[
    ("My card 4111 1111 1111 1112 was declined", CreditCard),
    ("Where is order 4111111111111111?", CreditCard),
    ("tracking number 1Z999AA10123456784", CreditCard),
    ("tracking number 1Z999AA10123456784", Phone),
    ("Order #12345678901 has not arrived", Phone),
    ("invoice 2024-000123456 is wrong", Phone),
    ("I was charged on 2024-03-05", Phone),
    ("Running version 1.2.3.4 of the app", IpAddress),
    ("It costs 1,299.99 now", Phone),
    ("The code is broken again", Secret),
    ("My SSN is 000-12-3456", UsSsn),
    ("reference 943 476 5919", NhsNumber),
    ("Please help me with my order", Person),
    ("I bought an Apple Watch last week", Person),
    ("CAN I SPEAK TO A REAL PERSON?!", Person),
    ("The delivery came on Monday in March", Person),
    ("GB82 WEST 1234 5698 7654 33", Iban),
    ("I have 2 kids and 3 dogs", StreetAddress),
    ("There are 12345 reasons", Postcode),
];

#[test]
fn every_detector_finds_its_true_cases() {
    let mut failures = Vec::new();
    for (text, kind, value) in POSITIVE {
        let hits = found(text);
        if !hits.iter().any(|(k, v)| k == kind && v == value) {
            failures.push(format!(
                "{text:?}: expected {kind} {value:?}, found {hits:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn look_alikes_are_not_taken_for_personal_data() {
    let mut failures = Vec::new();
    for (text, kind) in NEGATIVE {
        let hits = found(text);
        if hits.iter().any(|(k, _)| k == kind) {
            failures.push(format!("{text:?}: unexpected {kind} in {hits:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn overlapping_detections_resolve_to_one_span() {
    let text = "card 4111 1111 1111 1111, phone +44 20 7946 0958";
    let entities = crate::detector().detect(text);
    for pair in entities.windows(2) {
        assert!(pair[0].end <= pair[1].start, "{entities:?}");
    }
}
