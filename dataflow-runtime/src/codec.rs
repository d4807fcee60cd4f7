//! The one place that turns values into bytes and back (serde + bincode 2).
//!
//! Everything that leaves a process or outlives a run (checkpoints, spilled state) goes
//! through these two functions, so the wire format can change in one place.

use serde::{de::DeserializeOwned, Serialize};

/// Encodes a value with the project's fixed bincode configuration.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
}

/// Decodes a value written by [`encode`]; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
    if read != bytes.len() {
        return Err(bincode::error::DecodeError::OtherString(format!(
            "{} trailing bytes after the value",
            bytes.len() - read
        )));
    }
    Ok(value)
}

/// Encodes a value onto a writer (spill files: one value after another, no framing); returns
/// the bytes written.
pub fn encode_into<T: Serialize, W: std::io::Write>(
    value: &T,
    writer: &mut W,
) -> Result<usize, bincode::error::EncodeError> {
    bincode::serde::encode_into_std_write(value, writer, bincode::config::standard())
}

/// Decodes the next value written by [`encode_into`] from a reader.
pub fn decode_from<T: DeserializeOwned, R: std::io::Read>(
    reader: &mut R,
) -> Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_std_read(reader, bincode::config::standard())
}

/// The number of bytes [`encode`] would produce, without producing them (a value that does
/// not encode counts as 0).
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    match bincode::serde::encode_into_writer(value, &mut size, bincode::config::standard()) {
        Ok(()) => size.bytes_written,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let value = (String::from("word"), 42u64, vec![1i64, -2]);
        let bytes = encode(&value).unwrap();
        assert_eq!(decode::<(String, u64, Vec<i64>)>(&bytes).unwrap(), value);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<(String, u64, Vec<i64>)>(&longer).is_err());
        assert_eq!(encoded_len(&value), bytes.len());
    }

    #[test]
    fn values_stream_one_after_another() {
        let mut bytes = Vec::new();
        let first = encode_into(&(1u32, "a"), &mut bytes).unwrap();
        let second = encode_into(&(2u32, "bc"), &mut bytes).unwrap();
        assert_eq!(first + second, bytes.len());
        let mut reader = bytes.as_slice();
        assert_eq!(
            decode_from::<(u32, String), _>(&mut reader).unwrap(),
            (1, "a".into())
        );
        assert_eq!(
            decode_from::<(u32, String), _>(&mut reader).unwrap(),
            (2, "bc".into())
        );
        assert!(decode_from::<(u32, String), _>(&mut reader).is_err());
    }
}
