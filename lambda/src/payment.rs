//! The payment request: parsing, validation, and the transaction record written for it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Active ISO 4217 currency codes the function accepts (sorted; funds, precious metals and
/// test codes excluded).
pub const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN",
    "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES",
    "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK",
    "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES", "VND",
    "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// The largest accepted `amount` (minor units): the largest `bigint` of the database.
pub const MAX_AMOUNT: u64 = i64::MAX as u64;
/// The longest accepted `merchant_id`.
pub const MAX_MERCHANT_ID_LEN: usize = 64;
/// The longest accepted `card_token`.
pub const MAX_CARD_TOKEN_LEN: usize = 128;
/// The longest accepted `idempotency_key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// The prefix every card token carries.
pub const CARD_TOKEN_PREFIX: &str = "tok_";

/// A validated payment request.
///
/// Its `Debug` output redacts the card token.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Amount in minor units (cents), positive, at most [`MAX_AMOUNT`].
    pub amount: u64,
    /// ISO 4217 currency code, one of [`CURRENCIES`].
    pub currency: String,
    /// Merchant identifier: 1 to 64 of `[A-Za-z0-9_-]`.
    pub merchant_id: String,
    /// Card token from the card vault (`tok_...`); never logged, echoed or stored.
    pub card_token: String,
    /// Client-chosen key that makes retries safe: 1 to 128 of `[A-Za-z0-9_-:.]`.
    pub idempotency_key: String,
}

impl fmt::Debug for PaymentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentRequest")
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("merchant_id", &self.merchant_id)
            .field("card_token", &"<redacted>")
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// One invalid field of a payment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name in the request body.
    pub field: &'static str,
    /// What is wrong with it (never the submitted value).
    pub message: String,
}

/// Why a request body is not a valid payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The body is not a JSON object.
    #[error("malformed request body: {0}")]
    Malformed(String),
    /// The body is a JSON object with invalid or missing fields: every one of them.
    #[error("invalid payment: {} invalid fields", .0.len())]
    Invalid(Vec<FieldError>),
}

/// Parses and validates a payment request body, reporting every invalid field at once.
pub fn parse_payment(body: &[u8]) -> Result<PaymentRequest, PaymentError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(PaymentError::Malformed("request body is empty".into()));
    }
    // Parsing into a `Value` first keeps serde's messages to syntax positions: they never
    // quote submitted values (such as a card number in a field of the wrong type).
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| PaymentError::Malformed(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(PaymentError::Malformed(
            "request body must be a JSON object".into(),
        ));
    };
    let mut errors = Vec::new();
    let amount = amount(&fields);
    note(&mut errors, "amount", &amount);
    let currency = string(&fields, "currency").and_then(validate_currency);
    note(&mut errors, "currency", &currency);
    let merchant_id = string(&fields, "merchant_id").and_then(validate_merchant_id);
    note(&mut errors, "merchant_id", &merchant_id);
    let card_token = string(&fields, "card_token").and_then(validate_card_token);
    note(&mut errors, "card_token", &card_token);
    let idempotency_key = string(&fields, "idempotency_key").and_then(validate_idempotency_key);
    note(&mut errors, "idempotency_key", &idempotency_key);
    match (amount, currency, merchant_id, card_token, idempotency_key) {
        (Ok(amount), Ok(currency), Ok(merchant_id), Ok(card_token), Ok(idempotency_key)) => {
            Ok(PaymentRequest {
                amount,
                currency: currency.to_string(),
                merchant_id: merchant_id.to_string(),
                card_token: card_token.to_string(),
                idempotency_key: idempotency_key.to_string(),
            })
        }
        _ => Err(PaymentError::Invalid(errors)),
    }
}

fn note<T>(errors: &mut Vec<FieldError>, field: &'static str, result: &Result<T, String>) {
    if let Err(message) = result {
        errors.push(FieldError {
            field,
            message: message.clone(),
        });
    }
}

fn amount(fields: &Map<String, Value>) -> Result<u64, String> {
    match fields.get("amount") {
        None | Some(Value::Null) => Err("is required".into()),
        Some(value) => match value.as_u64().filter(|&n| n > 0) {
            Some(n) if n > MAX_AMOUNT => Err(format!("must be at most {MAX_AMOUNT} minor units")),
            Some(n) => Ok(n),
            None => Err("must be a positive integer number of minor units (cents)".into()),
        },
    }
}

fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Err("is required".into()),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("must be a string".into()),
    }
}

fn validate_currency(code: &str) -> Result<&str, String> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        Err("must be an ISO 4217 code of three upper-case letters, e.g. USD".into())
    } else if CURRENCIES.binary_search(&code).is_err() {
        Err("is not a supported ISO 4217 currency code".into())
    } else {
        Ok(code)
    }
}

fn validate_merchant_id(id: &str) -> Result<&str, String> {
    if id.is_empty() {
        Err("must not be empty".into())
    } else if id.chars().count() > MAX_MERCHANT_ID_LEN {
        Err(format!("must be at most {MAX_MERCHANT_ID_LEN} characters"))
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Err("may contain only letters, digits, '_' and '-'".into())
    } else {
        Ok(id)
    }
}

fn validate_card_token(token: &str) -> Result<&str, String> {
    if token.is_empty() {
        Err("must not be empty".into())
    } else if looks_like_card_number(token) {
        Err("looks like a raw card number (12 to 19 digits); send a card token instead".into())
    } else if token.chars().count() > MAX_CARD_TOKEN_LEN {
        Err(format!("must be at most {MAX_CARD_TOKEN_LEN} characters"))
    } else if !token.starts_with(CARD_TOKEN_PREFIX)
        || token.len() == CARD_TOKEN_PREFIX.len()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Err(format!(
            "must be a card token: '{CARD_TOKEN_PREFIX}' followed by letters, digits, '_' or '-'"
        ))
    } else {
        Ok(token)
    }
}

/// Whether `value` holds a run of 12 or more digits (spaces and dashes between them
/// ignored): the shape of a primary account number, which must never reach the function.
pub fn looks_like_card_number(value: &str) -> bool {
    let mut run = 0;
    for c in value.chars() {
        match c {
            '0'..='9' => {
                run += 1;
                if run >= 12 {
                    return true;
                }
            }
            ' ' | '-' => {}
            _ => run = 0,
        }
    }
    false
}

fn validate_idempotency_key(key: &str) -> Result<&str, String> {
    if key.is_empty() {
        Err("must not be empty".into())
    } else if key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN {
        Err(format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters"
        ))
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
    {
        Err("may contain only letters, digits, '_', '-', ':' and '.'".into())
    } else {
        Ok(key)
    }
}

/// The record of an accepted payment, as stored in the bucket and returned to the client.
/// It holds no card data beyond a SHA-256 fingerprint of the card token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// Random (v4) UUID of the transaction.
    pub transaction_id: String,
    /// Amount in minor units.
    pub amount: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Merchant identifier.
    pub merchant_id: String,
    /// Region that accepted the payment.
    pub region: String,
    /// When the payment was accepted (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The request's idempotency key.
    pub idempotency_key: String,
    /// Hex SHA-256 of the card token: tells retries of one payment from reuses of its key.
    pub card_fingerprint: String,
}

impl TransactionRecord {
    /// A new record (with a fresh transaction id) for `request`, accepted in `region` at `now`.
    pub fn new(request: &PaymentRequest, region: &str, now: OffsetDateTime) -> TransactionRecord {
        TransactionRecord {
            transaction_id: uuid::Uuid::new_v4().to_string(),
            amount: request.amount,
            currency: request.currency.clone(),
            merchant_id: request.merchant_id.clone(),
            region: region.to_string(),
            created_at: now,
            idempotency_key: request.idempotency_key.clone(),
            card_fingerprint: card_fingerprint(&request.card_token),
        }
    }

    /// Whether `request` is the same payment as this record (a retry): same amount,
    /// currency, merchant and card.
    pub fn same_payment(&self, request: &PaymentRequest) -> bool {
        self.amount == request.amount
            && self.currency == request.currency
            && self.merchant_id == request.merchant_id
            && self.card_fingerprint == card_fingerprint(&request.card_token)
    }
}

/// Hex SHA-256 of a card token.
pub fn card_fingerprint(card_token: &str) -> String {
    hex::encode(Sha256::digest(card_token.as_bytes()))
}

/// The bucket key of the record for an idempotency key:
/// `transactions/<hex SHA-256 of the key>.json`.
pub fn object_key(idempotency_key: &str) -> String {
    format!(
        "transactions/{}.json",
        hex::encode(Sha256::digest(idempotency_key.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "amount": 1250,
            "currency": "USD",
            "merchant_id": "merchant_42",
            "card_token": "tok_visa_4eC39HqLyjWDarjtT1zdp7dc",
            "idempotency_key": "order-1001:attempt.1",
        })
    }

    fn fields_of(body: &Value) -> Vec<&'static str> {
        match parse_payment(body.to_string().as_bytes()) {
            Err(PaymentError::Invalid(errors)) => errors.iter().map(|e| e.field).collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[test]
    fn currency_list_is_sorted_unique_and_large() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(CURRENCIES.len() >= 30);
        for code in ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD"] {
            assert!(CURRENCIES.contains(&code));
        }
    }

    #[test]
    fn accepts_a_valid_payment() {
        let request = parse_payment(valid().to_string().as_bytes()).unwrap();
        assert_eq!(request.amount, 1250);
        assert_eq!(request.currency, "USD");
        assert!(!format!("{request:?}").contains("tok_visa"));
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases: &[(&str, Value)] = &[
            ("amount", json!(0)),
            ("amount", json!(-5)),
            ("amount", json!(12.5)),
            ("amount", json!("100")),
            ("amount", json!(MAX_AMOUNT + 1)),
            ("currency", json!("usd")),
            ("currency", json!("ABC")),
            ("currency", json!("US")),
            ("merchant_id", json!("")),
            ("merchant_id", json!("m".repeat(65))),
            ("merchant_id", json!("shop 1")),
            ("card_token", json!("")),
            ("card_token", json!("4111111111111111")),
            ("card_token", json!("4111 1111 1111 1111")),
            ("card_token", json!("tok_4111-1111-1111-1111")),
            ("card_token", json!("visa_abc")),
            ("card_token", json!(format!("tok_{}", "a".repeat(125)))),
            ("card_token", json!(4111111111111111u64)),
            ("idempotency_key", json!("")),
            ("idempotency_key", json!("k".repeat(129))),
            ("idempotency_key", json!("key/with/slashes")),
        ];
        for (field, value) in cases {
            let mut body = valid();
            body[*field] = value.clone();
            assert_eq!(fields_of(&body), [*field], "{field} = {value}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let mut body = valid();
        body["amount"] = json!(MAX_AMOUNT);
        body["merchant_id"] = json!("m".repeat(64));
        body["idempotency_key"] = json!("k".repeat(128));
        body["card_token"] = json!(format!("tok_{}", "a".repeat(124)));
        assert!(parse_payment(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn reports_every_invalid_field_at_once() {
        let body = json!({"amount": 0, "currency": "usd", "merchant_id": "", "card_token": "4111111111111111", "idempotency_key": "a b"});
        assert_eq!(
            fields_of(&body),
            [
                "amount",
                "currency",
                "merchant_id",
                "card_token",
                "idempotency_key"
            ]
        );
        assert_eq!(fields_of(&json!({})).len(), 5);
    }

    #[test]
    fn malformed_bodies() {
        for body in [&b""[..], b"  ", b"{", b"[1,2]", b"\"text\"", b"\xff\xfe"] {
            assert!(
                matches!(parse_payment(body), Err(PaymentError::Malformed(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn card_number_shapes() {
        assert!(looks_like_card_number("378282246310005"));
        assert!(looks_like_card_number("5555-5555-5555-4444"));
        assert!(!looks_like_card_number("tok_12345678901"));
        assert!(!looks_like_card_number("tok_visa"));
    }

    #[test]
    fn key_and_fingerprint_are_hex_sha256() {
        let key = object_key("abc");
        assert_eq!(
            key,
            "transactions/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json"
        );
        assert_eq!(card_fingerprint("abc").len(), 64);
    }
}
