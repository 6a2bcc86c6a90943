//! Untrusted bytes → Block: must never panic; a decoded block must re-encode to the same bytes.
#![no_main]
use cairn_types::{Block, limits::BLOCK_SIZE_MAX_BYTES};
use commonware_codec::{DecodeExt, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > BLOCK_SIZE_MAX_BYTES {
        return;
    }
    if let Ok(block) = Block::decode(commonware_codec::Copying(data)) {
        assert_eq!(block.encode().as_ref(), data, "encoding is canonical");
    }
});
