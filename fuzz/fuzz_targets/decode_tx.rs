//! Untrusted bytes → SignedTx: must never panic; a decoded tx must re-encode to the same bytes.
#![no_main]
use cairn_types::SignedTx;
use commonware_codec::Encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode_bounded(data) {
        assert_eq!(tx.encode().as_ref(), data, "encoding is canonical");
        let _ = tx.verify_signature();
    }
});
