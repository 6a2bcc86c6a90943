//! [`Message`]: what nodes say to each other on the blob channel.

use bytes::BufMut;
use cairn_blobs::BlobId;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

/// One message on the blob channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// "Send me blob `id` if you hold it."
    Want(BlobId),
    /// A blob, pushed after a put or answering a [`Message::Want`]. `id` is what the sender
    /// claims the bytes hash to: the receiver checks it before storing anything.
    Blob { id: BlobId, bytes: Vec<u8> },
}

const TAG_WANT: u8 = 0;
const TAG_BLOB: u8 = 1;

impl Write for Message {
    fn write(&self, w: &mut impl BufMut) {
        match self {
            Message::Want(id) => {
                w.put_u8(TAG_WANT);
                w.put_slice(id.as_bytes());
            }
            Message::Blob { id, bytes } => {
                w.put_u8(TAG_BLOB);
                w.put_slice(id.as_bytes());
                // Blobs are at most BLOB_SIZE_MAX_BYTES (32 MiB); saturating never fires.
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                w.put_u32(len);
                w.put_slice(bytes);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        match self {
            Message::Want(_) => 1 + BlobId::LEN_BYTES,
            Message::Blob { bytes, .. } => bytes.len().saturating_add(1 + BlobId::LEN_BYTES + 4),
        }
    }
}

impl Read for Message {
    /// The largest blob accepted, in bytes (checked before anything is allocated).
    type Cfg = u64;

    fn read_cfg(r: &mut impl Buf, blob_size_max_bytes: &u64) -> Result<Self, CodecError> {
        let tag = u8::read(r)?;
        let id = read_id(r)?;
        match tag {
            TAG_WANT => Ok(Message::Want(id)),
            TAG_BLOB => {
                let len = u32::read(r)? as usize;
                if len as u64 > *blob_size_max_bytes || len > r.remaining() {
                    return Err(CodecError::InvalidLength(len));
                }
                let mut bytes = vec![0u8; len];
                r.copy_to_slice(&mut bytes);
                Ok(Message::Blob { id, bytes })
            }
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}

fn read_id(r: &mut impl Buf) -> Result<BlobId, CodecError> {
    if r.remaining() < BlobId::LEN_BYTES {
        return Err(CodecError::EndOfBuffer);
    }
    let mut id = [0u8; BlobId::LEN_BYTES];
    r.copy_to_slice(&mut id);
    Ok(BlobId::from_bytes(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};

    fn decode(bytes: &[u8], max: u64) -> Result<Message, CodecError> {
        Message::decode_cfg(bytes.to_vec(), &max)
    }

    #[test]
    fn messages_round_trip() {
        let blob = b"weights".to_vec();
        for message in [
            Message::Want(BlobId::of(b"x")),
            Message::Blob {
                id: BlobId::of(&blob),
                bytes: blob.clone(),
            },
            Message::Blob {
                id: BlobId::of(b""),
                bytes: Vec::new(),
            },
        ] {
            let encoded = message.encode();
            assert_eq!(encoded.len(), message.encode_size());
            assert_eq!(decode(&encoded, 1024).unwrap(), message);
        }
    }

    #[test]
    fn oversize_truncated_and_unknown_are_refused() {
        let blob = Message::Blob {
            id: BlobId::of(&[1; 10]),
            bytes: vec![1; 10],
        };
        let encoded = blob.encode();
        assert!(matches!(
            decode(&encoded, 9),
            Err(CodecError::InvalidLength(10))
        ));
        assert!(decode(&encoded[..encoded.len() - 1], 1024).is_err());
        let mut unknown = Message::Want(BlobId::of(b"x")).encode().to_vec();
        unknown[0] = 9;
        assert!(matches!(
            decode(&unknown, 1024),
            Err(CodecError::InvalidEnum(9))
        ));
    }
}
