//! One scrape of /metrics, parsed: sample names, label sets, values, and
//! the families declared by `# TYPE`.

use std::collections::{BTreeMap, BTreeSet};

/// What one scrape of /metrics says: every sample name with the label sets
/// seen, and every metric family declared by # TYPE (with its type).
#[derive(Default, Debug)]
pub(super) struct Scrape {
    pub(super) samples: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    pub(super) families: BTreeMap<String, String>,
    /// (sample name, labels) -> value.
    pub(super) values: BTreeMap<(String, BTreeMap<String, String>), String>,
}

impl Scrape {
    pub(super) fn parse(text: &str) -> Self {
        let mut s = Scrape::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                    s.families.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find(['{', ' ']) {
                Some(i) if line.as_bytes()[i] == b'{' => {
                    let (labels, rest) = parse_labels(&line[i + 1..]);
                    (line[..i].to_string(), labels, rest)
                }
                Some(i) => (line[..i].to_string(), BTreeMap::new(), &line[i..]),
                None => continue,
            };
            let value = rest.split_whitespace().next().unwrap_or_default();
            s.values
                .insert((name.clone(), labels.clone()), value.to_string());
            s.samples.entry(name).or_default().push(labels);
        }
        s
    }

    /// The sample names a family of this type is queried by.
    pub(super) fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.samples.keys().cloned().collect();
        for (family, kind) in &self.families {
            let suffixes: &[&str] = match kind.as_str() {
                // OpenMetrics declares counters without _total; the Prometheus
                // text format with it.
                "counter" => &["", "_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "gaugehistogram" => &["_bucket", "_gsum", "_gcount"],
                "summary" => &["", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
        }
        names
    }

    /// The label names and values seen on samples of `name`.
    pub(super) fn labels(&self, name: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for set in self.samples.get(name).into_iter().flatten() {
            for (k, v) in set {
                out.entry(k.clone()).or_default().insert(v.clone());
            }
        }
        out
    }
}

/// `a="x",b="y"} 1` -> ({a: x, b: y}, " 1"), with OpenMetrics' escapes.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut out = BTreeMap::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
            chars.next();
        }
        match chars.peek() {
            None => return (out, ""),
            Some((i, '}')) => return (out, &s[i + 1..]),
            _ => {}
        }
        let key: String = chars
            .by_ref()
            .map(|(_, c)| c)
            .take_while(|c| *c != '=')
            .collect();
        assert_eq!(
            chars.next().map(|(_, c)| c),
            Some('"'),
            "label {key} without a quoted value in {s}"
        );
        let mut value = String::new();
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim().to_string(), value);
    }
}
