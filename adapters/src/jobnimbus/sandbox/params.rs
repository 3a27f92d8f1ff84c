//! List parameters (`from`, `size`, `sort_field`, `sort_direction`, `fields`, `filter`) read
//! from the query string, with the limits the real API enforces, and the optional parameters
//! of writes (`skip`, `actor`).

use super::account;
use super::filter::BoolQuery;
use super::store::Author;

/// Elasticsearch's `index.max_result_window`: `from + size` may not exceed it.
pub(crate) const MAX_RESULT_WINDOW: usize = 10_000;
/// Documented default page size; we also treat it as the maximum (larger sizes are capped).
pub(crate) const MAX_PAGE_SIZE: usize = 1_000;

/// A validated list request.
#[derive(Debug)]
pub(crate) struct ListParams {
    pub(crate) from: usize,
    pub(crate) size: usize,
    pub(crate) sort_field: String,
    pub(crate) descending: bool,
    /// `None` = all fields. Always contains `jnid` when set.
    pub(crate) fields: Option<Vec<String>>,
    pub(crate) filter: Option<BoolQuery>,
}

impl ListParams {
    /// Reads the decoded query pairs; the error text is the body of the 400.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let from = number(get("from"), "from", 0)?;
        let size = number(get("size"), "size", MAX_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
        let window = from.saturating_add(size);
        if window > MAX_RESULT_WINDOW {
            return Err(format!(
                "Result window is too large, from + size must be less than or equal to: \
                 [{MAX_RESULT_WINDOW}] but was [{window}]. See the scroll api for a more \
                 efficient way to request large data sets. This limit can be set by changing \
                 the [index.max_result_window] index level setting."
            ));
        }
        let sort_field = match get("sort_field") {
            None | Some("") => "date_created".to_owned(),
            Some(field) => field.to_owned(),
        };
        let descending = match get("sort_direction") {
            None | Some("") => true,
            Some(d) if d.eq_ignore_ascii_case("desc") => true,
            Some(d) if d.eq_ignore_ascii_case("asc") => false,
            Some(other) => {
                return Err(format!(
                    "Unknown sort_direction [{other}], expected [asc] or [desc]"
                ))
            }
        };
        let fields = match get("fields") {
            None => None,
            Some(list) if list.trim().is_empty() => None,
            Some(list) => {
                let mut fields: Vec<String> = vec!["jnid".to_owned()];
                for field in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if !fields.iter().any(|f| f == field) {
                        fields.push(field.to_owned());
                    }
                }
                Some(fields)
            }
        };
        let filter = match get("filter") {
            None => None,
            Some(text) if text.trim().is_empty() => None,
            Some(text) => Some(BoolQuery::parse(text).map_err(|e| e.0)?),
        };
        Ok(Self {
            from,
            size,
            sort_field,
            descending,
            fields,
            filter,
        })
    }
}

/// The query parameters community clients add to writes (reference §1.5): `skip` is a
/// comma-separated list (`automation`, `notification`; others are ignored, as an API that
/// does not document the parameter would), `actor` the email of the team member the write is
/// attributed to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct WriteParams {
    /// `skip` names `automation`: no automation (so no webhook) fires for this write.
    pub(crate) skip_automation: bool,
    pub(crate) author: Author,
}

impl WriteParams {
    /// Reads the decoded query pairs; the error text is the body of the 400.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut params = WriteParams::default();
        for (key, value) in pairs {
            match key.as_str() {
                "skip" => {
                    params.skip_automation |= value
                        .split(',')
                        .any(|item| item.trim().eq_ignore_ascii_case("automation"));
                }
                "actor" => {
                    let (jnid, name) = account::user_by_email(value).ok_or_else(|| {
                        format!("actor '{value}' is not a team member of this account")
                    })?;
                    params.author = Author { jnid, name };
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

fn number(raw: Option<&str>, name: &str, default: usize) -> Result<usize, String> {
    match raw {
        None | Some("") => Ok(default),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if n < 0 => Err(format!("[{name}] parameter cannot be negative")),
            Ok(n) => usize::try_from(n).map_err(|_| format!("[{name}] is too large")),
            Err(_) => Err(format!(
                "Failed to parse [{name}] value [{text}] as a number"
            )),
        },
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
pub(crate) fn decode_query(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("invalid percent-encoding in query string: {text}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "query string is not valid UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ListParams, String> {
        ListParams::parse(&decode_query(query)?)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let p = parse("").unwrap();
        assert_eq!((p.from, p.size), (0, 1000));
        assert_eq!(p.sort_field, "date_created");
        assert!(p.descending);
        assert!(p.fields.is_none() && p.filter.is_none());
    }

    #[test]
    fn size_is_capped_at_one_thousand() {
        assert_eq!(parse("size=5000").unwrap().size, 1000);
    }

    #[test]
    fn the_result_window_stops_at_ten_thousand() {
        assert!(parse("from=9000&size=1000").is_ok());
        let err = parse("from=9001&size=1000").unwrap_err();
        assert!(err.starts_with("Result window is too large"), "{err}");
        assert!(parse("from=10001&size=0").is_err());
    }

    #[test]
    fn bad_numbers_and_directions_are_refused() {
        assert!(parse("from=-1").is_err());
        assert!(parse("size=ten").is_err());
        assert!(parse("sort_direction=up").is_err());
        assert!(parse("filter=%7Bnope").is_err());
        assert!(parse("filter=%ZZ").is_err());
    }

    #[test]
    fn fields_always_keep_jnid() {
        let p = parse("fields=name,%20status_name,name").unwrap();
        assert_eq!(p.fields.unwrap(), vec!["jnid", "name", "status_name"]);
    }

    #[test]
    fn writes_read_skip_lists_and_attribute_to_a_known_actor_only() {
        let write = |query: &str| WriteParams::parse(&decode_query(query).unwrap());
        assert_eq!(write("").unwrap(), WriteParams::default());
        assert!(
            write("skip=automation,notification")
                .unwrap()
                .skip_automation
        );
        assert!(
            write("skip=notification%2C+Automation")
                .unwrap()
                .skip_automation
        );
        assert!(!write("skip=notification").unwrap().skip_automation);
        let actor = write("actor=priya%40summitroofing.example").unwrap();
        assert_eq!(actor.author.name, "Priya Raman");
        let err = write("actor=someone%40elsewhere.example").unwrap_err();
        assert!(err.contains("someone@elsewhere.example"), "{err}");
    }

    #[test]
    fn query_strings_decode_plus_and_percent() {
        let pairs = decode_query("a=b+c%2Bd&e").unwrap();
        assert_eq!(
            pairs,
            vec![("a".into(), "b c+d".into()), ("e".into(), String::new())]
        );
    }
}
