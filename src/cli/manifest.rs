//! Reading a manifest a person gives a command (`-f FILE`, `-` for stdin):
//! bounded in size, UTF-8, YAML or JSON, possibly several documents.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::one_line;
use crate::crd::S3Connection;
use crate::messages;

/// The largest manifest read, in bytes.
pub const MAX_MANIFEST: u64 = 1024 * 1024;

/// At most [`MAX_MANIFEST`] bytes of `path` (`-` for stdin), as UTF-8; the
/// error is one line naming what is wrong.
pub fn read_bounded(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let mut buf = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_MANIFEST + 1).read_to_end(&mut buf))
    };
    read.map_err(|e| one_line(&format!("cannot read {shown}: {e}")))?;
    if buf.len() as u64 > MAX_MANIFEST {
        return Err(format!("{shown} is larger than {MAX_MANIFEST} bytes"));
    }
    String::from_utf8(buf).map_err(|_| format!("{shown} is not UTF-8 text"))
}

/// The documents of `text` that are not empty.
pub fn documents(text: &str) -> Result<Vec<yaml_serde::Value>, String> {
    let mut out = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value =
            yaml_serde::Value::deserialize(doc).map_err(|e| one_line(&format!("not YAML: {e}")))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// The API group and kind of a document.
pub fn group_kind(value: &yaml_serde::Value) -> (Option<&str>, Option<&str>) {
    let api = value.get("apiVersion").and_then(|k| k.as_str());
    let group = api.map(|a| a.split_once('/').map_or("", |(g, _)| g));
    (group, value.get("kind").and_then(|k| k.as_str()))
}

/// The one S3Connection of a manifest (other documents, such as the
/// ServiceAccount of an IRSA example, are skipped).
pub fn the_connection(text: &str) -> Result<S3Connection, String> {
    let mut found = Vec::new();
    let mut first = None;
    for value in documents(text)? {
        match group_kind(&value) {
            (Some("s3connection.dev"), Some("S3Connection")) => found.push(value),
            _ if first.is_none() => {
                let api = value.get("apiVersion").and_then(|k| k.as_str());
                let kind = value.get("kind").and_then(|k| k.as_str());
                first = Some(messages::not_an_s3connection(kind, api));
            }
            _ => {}
        }
    }
    let value = match found.len() {
        1 => found.remove(0),
        0 => return Err(first.unwrap_or_else(|| messages::not_an_s3connection(None, None))),
        n => return Err(format!("{n} S3Connections in one file; give one")),
    };
    yaml_serde::from_value(value).map_err(|e| one_line(&format!("not a valid S3Connection: {e}")))
}
