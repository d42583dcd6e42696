//! Naming a request: S3 operations from method, path and query, STS/IAM
//! from the `Action` form field ([`classify_aws`]); Kubernetes API requests
//! as `VERB resource[/subresource]` ([`classify_kube`]).

use super::wire::Head;

/// Percent-decoding of a form or query value.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
}

/// The operation of an S3, STS or IAM request, a tag for some (the role
/// ARN of AssumeRole*), and whether it is an STS/IAM action (query
/// protocol) rather than an S3 request.
pub(super) fn classify_aws(req: &Head, body: Option<&[u8]>) -> (String, Option<String>, bool) {
    let method = req.first.to_ascii_uppercase();
    let (path, query) = req.second.split_once('?').unwrap_or((&req.second, ""));
    // STS / IAM: query protocol, the action in the form body (or the query)
    let form = body.map(String::from_utf8_lossy).unwrap_or_default();
    let action = form_value(&form, "Action").or_else(|| form_value(query, "Action"));
    if let Some(action) = action {
        let tag = match action.as_str() {
            "AssumeRoleWithWebIdentity" | "AssumeRole" => Some(format!(
                "{action} {}",
                form_value(&form, "RoleArn").unwrap_or_default()
            )),
            _ => None,
        };
        return (action, tag, true);
    }
    if path.starts_with("/moto-api") {
        return ("moto-api".into(), None, false);
    }
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) => (b, k),
        None => (trimmed, ""),
    };
    let first_query_key = query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or_default())
        .find(|k| !k.is_empty() && *k != "x-id");
    let op = match (bucket.is_empty(), key.is_empty(), method.as_str()) {
        (true, _, "GET") => "ListBuckets".to_string(),
        (false, true, "HEAD") => "HeadBucket".into(),
        (false, true, "GET") if form_value(query, "list-type").as_deref() == Some("2") => {
            "ListObjectsV2".into()
        }
        (false, true, "GET") => match first_query_key {
            None => "ListObjects".into(),
            Some(k) => format!("GET bucket?{k}"),
        },
        (false, true, "PUT") if first_query_key.is_none() => "CreateBucket".into(),
        (false, true, "DELETE") if first_query_key.is_none() => "DeleteBucket".into(),
        (false, true, "POST") if first_query_key == Some("delete") => "DeleteObjects".into(),
        (false, false, m) if first_query_key.is_none() => match m {
            "GET" => "GetObject".into(),
            "HEAD" => "HeadObject".into(),
            "DELETE" => "DeleteObject".into(),
            "PUT" if req.header("x-amz-copy-source").is_some() => "CopyObject".into(),
            "PUT" => "PutObject".into(),
            m => format!("{m} object"),
        },
        (_, k, m) => format!(
            "{m} {}?{}",
            if k { "bucket" } else { "object" },
            first_query_key.unwrap_or_default()
        ),
    };
    (op, None, false)
}

pub(super) fn classify_kube(req: &Head) -> (String, Option<String>) {
    let method = req.first.to_ascii_uppercase();
    let (path, query) = req.second.split_once('?').unwrap_or((&req.second, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: &[&str] = match segs.first().copied() {
        Some("api") if segs.len() >= 2 => &segs[2..],
        Some("apis") if segs.len() >= 3 => &segs[3..],
        _ => return (format!("{method} {path}"), None),
    };
    if rest.is_empty() {
        return (format!("{method} discovery"), None);
    }
    let (ns, rest): (Option<&str>, &[&str]) = if rest[0] == "namespaces" && rest.len() >= 3 {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    let resource = rest[0];
    let name = rest.get(1).copied();
    let sub = rest.get(2).copied();
    let watch = matches!(
        form_value(query, "watch").as_deref(),
        Some("true") | Some("1")
    );
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watch => "WATCH",
        ("GET", true) => "GET",
        ("GET", false) => "LIST",
        ("POST", _) => "CREATE",
        ("PUT", _) => "UPDATE",
        ("PATCH", _)
            if req
                .header("content-type")
                .is_some_and(|c| c.contains("apply-patch")) =>
        {
            "APPLY"
        }
        ("PATCH", _) => "PATCH",
        ("DELETE", true) => "DELETE",
        ("DELETE", false) => "DELETECOLLECTION",
        (m, _) => m,
    }
    .to_string();
    let what = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let tag = match (resource, sub, ns, name) {
        ("serviceaccounts", Some("token"), Some(ns), Some(n)) => Some(format!("token {ns}/{n}")),
        _ => None,
    };
    (format!("{verb} {what}"), tag)
}
