//! The `filter` list parameter: an Elasticsearch `bool` query in JSON, parsed once per request
//! and evaluated against each stored record.
//!
//! Supported, as seen against the real API (reference §1.4): top-level `must` / `should` /
//! `must_not` (and ES's `filter`, which behaves like `must` here) holding `range`, `term`,
//! `match_phrase` and `wildcard` clauses, plus nested `bool`. Anything else is rejected with a
//! message, the way Elasticsearch rejects an unknown query.
//!
//! Semantics follow Elasticsearch where it is surprising:
//! - `should` is only required when the bool has no `must`/`filter` (or when
//!   `minimum_should_match` says so), exactly as in an ES query context.
//! - `term` is exact and case-sensitive; `match_phrase` is analysed (lowercase word tokens,
//!   consecutive); `wildcard` matches the whole value, case-sensitive unless
//!   `case_insensitive: true`.
//! - A dotted path (`related.id`) walks into objects and matches if any array element does.
//! - A missing field never satisfies `range`, `term`, `match_phrase` or `wildcard`.

use serde_json::{Map, Value};

use super::record::{Field, Record};

/// A parsed `bool` query.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoolQuery {
    must: Vec<Clause>,
    should: Vec<Clause>,
    must_not: Vec<Clause>,
    minimum_should_match: Option<usize>,
}

#[derive(Debug, Clone)]
enum Clause {
    Range {
        path: Vec<String>,
        bounds: Vec<(Bound, Scalar)>,
    },
    Term {
        path: Vec<String>,
        value: Value,
    },
    MatchPhrase {
        path: Vec<String>,
        tokens: Vec<String>,
    },
    Wildcard {
        path: Vec<String>,
        pattern: Vec<char>,
        case_insensitive: bool,
    },
    Bool(BoolQuery),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
enum Scalar {
    Number(f64),
    Text(String),
}

/// Why a filter was refused; becomes the `error` of a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilterError(pub(crate) String);

fn bad(message: impl Into<String>) -> FilterError {
    FilterError(message.into())
}

impl Bound {
    pub(crate) fn is_lower(self) -> bool {
        matches!(self, Bound::Gt | Bound::Gte)
    }

    /// Whether `value` is within this bound of `limit`.
    pub(crate) fn admits(self, value: f64, limit: f64) -> bool {
        match value.partial_cmp(&limit) {
            None => false,
            Some(ordering) => match self {
                Bound::Gt => ordering.is_gt(),
                Bound::Gte => ordering.is_ge(),
                Bound::Lt => ordering.is_lt(),
                Bound::Lte => ordering.is_le(),
            },
        }
    }
}

impl BoolQuery {
    /// When the whole query is `must` range clauses on `path` with numeric limits (what
    /// incremental sync sends), those bounds: a sorted index can answer it directly.
    pub(crate) fn numeric_ranges_on(&self, path: &[String]) -> Option<Vec<(Bound, f64)>> {
        if !self.should.is_empty() || !self.must_not.is_empty() || self.must.is_empty() {
            return None;
        }
        let mut all = Vec::new();
        for clause in &self.must {
            let Clause::Range { path: p, bounds } = clause else {
                return None;
            };
            if p.as_slice() != path {
                return None;
            }
            for (bound, limit) in bounds {
                let Scalar::Number(limit) = limit else {
                    return None;
                };
                all.push((*bound, *limit));
            }
        }
        Some(all)
    }

    /// Parses the (already URL-decoded) `filter` parameter.
    pub(crate) fn parse(text: &str) -> Result<Self, FilterError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("filter is not valid JSON: {e}")))?;
        match value {
            Value::Object(map) => Self::from_map(&map),
            _ => Err(bad(
                "filter must be a JSON object with must/should/must_not",
            )),
        }
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self, FilterError> {
        let mut query = BoolQuery::default();
        for (key, value) in map {
            match key.as_str() {
                "must" | "filter" => query.must.extend(clauses(key, value)?),
                "should" => query.should.extend(clauses(key, value)?),
                "must_not" => query.must_not.extend(clauses(key, value)?),
                "minimum_should_match" => {
                    let n = value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| bad("minimum_should_match must be a whole number"))?;
                    query.minimum_should_match = Some(n as usize);
                }
                // Scoring knobs mean nothing for a filter but are legal.
                "boost" | "_name" => {}
                other => return Err(bad(format!("[bool] query does not support [{other}]"))),
            }
        }
        Ok(query)
    }

    pub(crate) fn matches(&self, record: &Record) -> bool {
        if !self.must.iter().all(|c| c.matches(record)) {
            return false;
        }
        if self.must_not.iter().any(|c| c.matches(record)) {
            return false;
        }
        let required = self.minimum_should_match.unwrap_or({
            if self.must.is_empty() && !self.should.is_empty() {
                1
            } else {
                0
            }
        });
        if required == 0 {
            return true;
        }
        self.should.iter().filter(|c| c.matches(record)).count() >= required
    }
}

/// A clause list: ES accepts an array or a single clause object.
fn clauses(key: &str, value: &Value) -> Result<Vec<Clause>, FilterError> {
    match value {
        Value::Array(items) => items.iter().map(Clause::parse).collect(),
        Value::Object(_) => Ok(vec![Clause::parse(value)?]),
        _ => Err(bad(format!("[{key}] must be an array of query clauses"))),
    }
}

/// `{"kind": {"field": params}}` → (kind, field, params).
fn single_field<'a>(kind: &str, body: &'a Value) -> Result<(&'a str, &'a Value), FilterError> {
    let map = body
        .as_object()
        .ok_or_else(|| bad(format!("[{kind}] query malformed, expected an object")))?;
    let mut entries = map.iter().filter(|(k, _)| k.as_str() != "boost");
    match (entries.next(), entries.next()) {
        (Some((field, params)), None) if !field.is_empty() => Ok((field.as_str(), params)),
        (None, _) => Err(bad(format!("[{kind}] query needs a field"))),
        _ => Err(bad(format!(
            "[{kind}] query doesn't support multiple fields"
        ))),
    }
}

fn path(field: &str) -> Vec<String> {
    field.split('.').map(str::to_owned).collect()
}

impl Clause {
    fn parse(value: &Value) -> Result<Self, FilterError> {
        let map = value
            .as_object()
            .ok_or_else(|| bad("a query clause must be a JSON object"))?;
        let mut entries = map.iter();
        let (kind, body) = match (entries.next(), entries.next()) {
            (Some(entry), None) => entry,
            _ => return Err(bad("a query clause must have exactly one key")),
        };
        match kind.as_str() {
            "range" => {
                let (field, params) = single_field(kind, body)?;
                let params = params
                    .as_object()
                    .ok_or_else(|| bad(format!("[range] query on [{field}] needs an object")))?;
                let mut bounds = Vec::new();
                for (name, limit) in params {
                    let bound = match name.as_str() {
                        "gt" => Bound::Gt,
                        "gte" => Bound::Gte,
                        "lt" => Bound::Lt,
                        "lte" => Bound::Lte,
                        "boost" | "format" | "time_zone" => continue,
                        other => {
                            return Err(bad(format!("[range] query does not support [{other}]")))
                        }
                    };
                    let limit = match limit {
                        Value::Number(n) => Scalar::Number(n.as_f64().unwrap_or(f64::NAN)),
                        Value::String(s) => match s.trim().parse::<f64>() {
                            Ok(n) => Scalar::Number(n),
                            Err(_) => Scalar::Text(s.clone()),
                        },
                        _ => {
                            return Err(bad(format!(
                                "[range] bound [{name}] must be a number or a string"
                            )))
                        }
                    };
                    bounds.push((bound, limit));
                }
                Ok(Clause::Range {
                    path: path(field),
                    bounds,
                })
            }
            "term" => {
                let (field, params) = single_field(kind, body)?;
                let value = match params {
                    Value::Object(o) => o
                        .get("value")
                        .cloned()
                        .ok_or_else(|| bad("[term] query needs a [value]"))?,
                    other => other.clone(),
                };
                if value.is_array() || value.is_object() || value.is_null() {
                    return Err(bad(
                        "[term] query value must be a string, number or boolean",
                    ));
                }
                Ok(Clause::Term {
                    path: path(field),
                    value,
                })
            }
            "match_phrase" => {
                let (field, params) = single_field(kind, body)?;
                let query = match params {
                    Value::Object(o) => o.get("query").cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let text = value_text(&query)
                    .ok_or_else(|| bad("[match_phrase] query needs a text [query]"))?;
                Ok(Clause::MatchPhrase {
                    path: path(field),
                    tokens: tokens(&text),
                })
            }
            "wildcard" => {
                let (field, params) = single_field(kind, body)?;
                let (pattern, case_insensitive) = match params {
                    Value::String(s) => (s.clone(), false),
                    Value::Object(o) => {
                        let pattern = o
                            .get("value")
                            .or_else(|| o.get("wildcard"))
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("[wildcard] query needs a string [value]"))?;
                        let ci = o
                            .get("case_insensitive")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        (pattern.to_owned(), ci)
                    }
                    _ => return Err(bad("[wildcard] query value must be a string")),
                };
                let pattern = if case_insensitive {
                    pattern.to_lowercase()
                } else {
                    pattern
                };
                Ok(Clause::Wildcard {
                    path: path(field),
                    pattern: pattern.chars().collect(),
                    case_insensitive,
                })
            }
            "bool" => {
                let map = body
                    .as_object()
                    .ok_or_else(|| bad("[bool] query malformed, expected an object"))?;
                Ok(Clause::Bool(BoolQuery::from_map(map)?))
            }
            other => Err(bad(format!("no [query] registered for [{other}]"))),
        }
    }

    fn matches(&self, record: &Record) -> bool {
        match self {
            Clause::Bool(query) => query.matches(record),
            Clause::Range { path, bounds } => any_value(record, path, |v| {
                bounds.iter().all(|(b, l)| in_range(v, *b, l))
            }),
            Clause::Term { path, value } => any_value(record, path, |v| term_equals(v, value)),
            Clause::MatchPhrase {
                path,
                tokens: phrase,
            } => any_value(record, path, |v| {
                scalar_text(v).is_some_and(|text| contains_phrase(&tokens(&text), phrase))
            }),
            Clause::Wildcard {
                path,
                pattern,
                case_insensitive,
            } => any_value(record, path, |v| {
                scalar_text(v).is_some_and(|text| {
                    let text = if *case_insensitive {
                        text.to_lowercase()
                    } else {
                        text
                    };
                    let text: Vec<char> = text.chars().collect();
                    glob(pattern, &text)
                })
            }),
        }
    }
}

/// True if any value found at `path` (arrays flattened at every step) satisfies `test`.
fn any_value(record: &Record, path: &[String], test: impl Fn(&Field) -> bool) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    record
        .get(first)
        .is_some_and(|value| walk(value, rest, &test))
}

/// Collects every scalar found at `path` (arrays flattened at every step), for sorting.
pub(crate) fn values_at<'a>(record: &'a Record, path: &[String], out: &mut Vec<&'a Field>) {
    fn collect<'a>(value: &'a Field, rest: &[String], out: &mut Vec<&'a Field>) {
        match value {
            Field::List(items) => items.iter().for_each(|item| collect(item, rest, out)),
            Field::Object(map) => {
                if let Some((key, rest)) = rest.split_first() {
                    if let Some(inner) = map.get(key) {
                        collect(inner, rest, out);
                    }
                }
            }
            Field::Null => {}
            scalar => {
                if rest.is_empty() {
                    out.push(scalar);
                }
            }
        }
    }
    if let Some((first, rest)) = path.split_first() {
        if let Some(value) = record.get(first) {
            collect(value, rest, out);
        }
    }
}

fn walk(value: &Field, rest: &[String], test: &impl Fn(&Field) -> bool) -> bool {
    match value {
        Field::List(items) => items.iter().any(|item| walk(item, rest, test)),
        Field::Object(map) => match rest.split_first() {
            Some((key, rest)) => map.get(key).is_some_and(|v| walk(v, rest, test)),
            // An object itself is not a searchable value.
            None => false,
        },
        Field::Null => false,
        scalar => rest.is_empty() && test(scalar),
    }
}

fn in_range(value: &Field, bound: Bound, limit: &Scalar) -> bool {
    let ordering = match (value, limit) {
        (Field::Int(_) | Field::Float(_), Scalar::Number(l)) => {
            value.as_f64().and_then(|n| n.partial_cmp(l))
        }
        (Field::Str(s), Scalar::Number(l)) => {
            s.trim().parse::<f64>().ok().and_then(|n| n.partial_cmp(l))
        }
        (Field::Str(s), Scalar::Text(l)) => Some(s.as_ref().cmp(l.as_str())),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match bound {
        Bound::Gt => ordering.is_gt(),
        Bound::Gte => ordering.is_ge(),
        Bound::Lt => ordering.is_lt(),
        Bound::Lte => ordering.is_le(),
    }
}

/// Exact equality, with the coercions ES applies to the query value (`"5"` finds 5, `"true"`
/// finds true); never case folding.
fn term_equals(field: &Field, query: &Value) -> bool {
    match (field, query) {
        (Field::Int(_) | Field::Float(_), Value::Number(b)) => field.as_f64() == b.as_f64(),
        (Field::Int(_) | Field::Float(_), Value::String(b)) => {
            b.trim().parse::<f64>().ok() == field.as_f64()
        }
        (Field::Bool(a), Value::Bool(b)) => a == b,
        (Field::Bool(a), Value::String(b)) => b == if *a { "true" } else { "false" },
        (Field::Str(a), Value::String(b)) => a == b,
        (Field::Str(a), Value::Number(b)) => *a == b.to_string(),
        _ => false,
    }
}

/// The text a scalar field is searched as.
fn scalar_text(value: &Field) -> Option<String> {
    match value {
        Field::Str(s) => Some(s.to_string()),
        Field::Int(n) => Some(n.to_string()),
        Field::Float(x) => Some(x.to_string()),
        Field::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Roughly ES's standard analyser: lowercase runs of letters and digits.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// An empty phrase matches nothing (ES `zero_terms_query: none`).
fn contains_phrase(haystack: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && haystack.windows(phrase.len()).any(|w| w == phrase)
}

/// `*` = any run, `?` = one character; iterative with single-star backtracking.
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Record {
        let value = json!({
            "jnid": "abc",
            "name": "Smith - Roof Replacement",
            "status_name": "Lead",
            "date_updated": 1_700_000_000,
            "is_active": true,
            "tags": ["Hail", "Priority"],
            "related": [{"id": "c1", "type": "contact"}, {"id": "j9", "type": "job"}],
            "primary": {"id": "c1", "type": "contact"},
            "description": null
        });
        Record::from_map(value.as_object().unwrap())
    }

    fn check(filter: Value) -> bool {
        BoolQuery::parse(&filter.to_string())
            .unwrap()
            .matches(&record())
    }

    #[test]
    fn range_bounds_are_inclusive_or_exclusive_as_named() {
        assert!(check(
            json!({"must":[{"range":{"date_updated":{"gte":1_700_000_000}}}]})
        ));
        assert!(!check(
            json!({"must":[{"range":{"date_updated":{"gt":1_700_000_000}}}]})
        ));
        assert!(check(
            json!({"must":[{"range":{"date_updated":{"lte":1_700_000_000}}}]})
        ));
        assert!(!check(
            json!({"must":[{"range":{"date_updated":{"lt":1_700_000_000}}}]})
        ));
        assert!(check(
            json!({"must":[{"range":{"date_updated":{"gt":"1699999999","lt":1_700_000_001}}}]})
        ));
        assert!(!check(json!({"must":[{"range":{"missing":{"gte":0}}}]})));
    }

    #[test]
    fn term_is_exact_and_case_sensitive_and_searches_arrays_and_dotted_paths() {
        assert!(check(json!({"must":[{"term":{"status_name":"Lead"}}]})));
        assert!(!check(json!({"must":[{"term":{"status_name":"lead"}}]})));
        assert!(check(json!({"must":[{"term":{"tags":"Hail"}}]})));
        assert!(check(json!({"must":[{"term":{"related.id":"j9"}}]})));
        assert!(check(
            json!({"must":[{"term":{"primary.id":{"value":"c1"}}}]})
        ));
        assert!(!check(json!({"must":[{"term":{"related.id":"zzz"}}]})));
        assert!(check(json!({"must":[{"term":{"is_active":true}}]})));
        assert!(check(
            json!({"must":[{"term":{"date_updated":"1700000000"}}]})
        ));
    }

    #[test]
    fn match_phrase_needs_the_words_in_order_ignoring_case() {
        assert!(check(
            json!({"must":[{"match_phrase":{"name":"roof replacement"}}]})
        ));
        assert!(check(
            json!({"must":[{"match_phrase":{"name":{"query":"SMITH"}}}]})
        ));
        assert!(!check(
            json!({"must":[{"match_phrase":{"name":"replacement roof"}}]})
        ));
        assert!(!check(
            json!({"must":[{"match_phrase":{"name":"Roof Rep"}}]})
        ));
        assert!(!check(json!({"must":[{"match_phrase":{"name":""}}]})));
    }

    #[test]
    fn wildcard_matches_the_whole_value_with_star_and_question_mark() {
        assert!(check(json!({"must":[{"wildcard":{"name":"*Roof*"}}]})));
        assert!(!check(json!({"must":[{"wildcard":{"name":"*roof*"}}]})));
        assert!(check(
            json!({"must":[{"wildcard":{"name":{"value":"*roof*","case_insensitive":true}}}]})
        ));
        assert!(check(json!({"must":[{"wildcard":{"status_name":"L?ad"}}]})));
        assert!(!check(json!({"must":[{"wildcard":{"status_name":"Lea"}}]})));
        assert!(check(json!({"must":[{"wildcard":{"related.type":"j*"}}]})));
    }

    #[test]
    fn should_is_required_only_without_must() {
        let miss = json!({"term":{"status_name":"Sold"}});
        let hit = json!({"term":{"status_name":"Lead"}});
        assert!(!check(json!({"should":[miss.clone()]})));
        assert!(check(json!({"should":[miss.clone(), hit.clone()]})));
        assert!(check(
            json!({"must":[hit.clone()], "should":[miss.clone()]})
        ));
        assert!(!check(
            json!({"must":[hit.clone()], "should":[miss.clone()], "minimum_should_match": 1})
        ));
        assert!(check(json!({"must":[{"bool":{"should":[miss, hit]}}]})));
    }

    #[test]
    fn must_not_excludes_and_missing_fields_never_match() {
        assert!(!check(json!({"must_not":[{"term":{"tags":"Hail"}}]})));
        assert!(check(json!({"must_not":[{"term":{"nope":"x"}}]})));
        assert!(!check(json!({"must":[{"wildcard":{"description":"*"}}]})));
    }

    #[test]
    fn malformed_filters_are_refused_with_a_reason() {
        for bad in [
            "not json",
            "[]",
            r#"{"must": 3}"#,
            r#"{"mustt": []}"#,
            r#"{"must":[{"fuzzy":{"name":"x"}}]}"#,
            r#"{"must":[{"term":{"a":"x","b":"y"}}]}"#,
            r#"{"must":[{"range":{"date_updated":{"from":1}}}]}"#,
            r#"{"must":[{"term":{"a":null}}]}"#,
            r#"{"must":[{"term":{"a":1}, "range":{"b":{"gt":1}}}]}"#,
        ] {
            assert!(BoolQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob_backtracks_over_stars() {
        let g = |p: &str, t: &str| {
            glob(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(g("a*b*c", "axxbyyc"));
        assert!(g("*", ""));
        assert!(!g("a*b", "axxc"));
        assert!(g("*ab", "aab"));
    }
}
