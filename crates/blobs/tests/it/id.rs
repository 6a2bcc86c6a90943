//! `BlobId`: hashing and the hex text form.

use cairn_blobs::{BlobId, ParseBlobIdError};

/// BLAKE3 of the empty input (from the BLAKE3 reference test vectors).
const EMPTY_HEX: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

#[test]
fn id_is_blake3_and_hex_round_trips() {
    let id = BlobId::of(b"");
    assert_eq!(id.to_string(), EMPTY_HEX);
    assert_eq!(EMPTY_HEX.parse::<BlobId>().unwrap(), id);
    assert_eq!(EMPTY_HEX.to_uppercase().parse::<BlobId>().unwrap(), id);
    assert_eq!(BlobId::from_bytes(*id.as_bytes()), id);
    assert_eq!(format!("{id:?}"), format!("BlobId({EMPTY_HEX})"));
}

#[test]
fn parse_rejects_bad_text_with_a_typed_error() {
    let cases: &[(&str, ParseBlobIdError)] = &[
        (
            "",
            ParseBlobIdError::Length {
                got: 0,
                expected: 64,
            },
        ),
        (
            &EMPTY_HEX[..63],
            ParseBlobIdError::Length {
                got: 63,
                expected: 64,
            },
        ),
        (
            "0".repeat(65).leak(),
            ParseBlobIdError::Length {
                got: 65,
                expected: 64,
            },
        ),
        (
            format!("{}g", &EMPTY_HEX[..63]).leak(),
            ParseBlobIdError::InvalidChar { index: 63, ch: 'g' },
        ),
        // 62 digits + a two-byte character: 64 bytes, but not hex.
        (
            format!("{}é", &EMPTY_HEX[..62]).leak(),
            ParseBlobIdError::InvalidChar {
                index: 62, ch: 'é'
            },
        ),
        (
            format!(" {}", &EMPTY_HEX[..63]).leak(),
            ParseBlobIdError::InvalidChar { index: 0, ch: ' ' },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<BlobId>().unwrap_err(), *want, "{text:?}");
    }
}
