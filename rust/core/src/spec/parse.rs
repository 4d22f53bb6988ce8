//! Parsing specs from TOML and JSON with errors that name the field.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Parses a JSON document into `T`, reporting the path of the bad field.
pub fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // JSON comes from programs (the Python layer), not from files a user
        // edits: the field path says where, so drop "at line 1 column 20".
        let msg = e.inner().to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m);
        path_error(what, e.path().to_string(), msg.to_string())
    })
}

/// Parses a TOML document into `T`, reporting the path of the bad field and,
/// from the TOML parser, the line.
pub fn from_toml<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| Error::spec(what, format!("invalid TOML: {}", e.message())))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let msg = inner.message().to_string();
        let at = inner
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        path_error(what, e.path().to_string(), format!("{msg}{at}"))
    })
}

fn path_error(what: &str, path: String, message: String) -> Error {
    if path.is_empty() || path == "." {
        Error::spec(what, message)
    } else {
        Error::spec(format!("{what}.{path}"), message)
    }
}

/// Serializes a spec to JSON (the form the Python layer stores).
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("specs always serialize")
}

/// Serializes a spec to TOML (for `to_toml()` and failing-case reports).
pub fn to_toml<T: Serialize>(value: &T) -> Result<String> {
    toml::to_string(value).map_err(|e| Error::spec("", format!("cannot write TOML: {e}")))
}
