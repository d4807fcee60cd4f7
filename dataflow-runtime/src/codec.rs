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
    }
}
