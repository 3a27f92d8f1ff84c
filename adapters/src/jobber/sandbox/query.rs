//! Just enough GraphQL to recognise an operation: a tokenizer and a selection-set parser
//! (arguments and variable definitions are skipped, not understood), and validation against
//! the sandbox's small schema. Fragments, directives and several operations per document are
//! refused with an error rather than guessed at.

/// Query or mutation (subscriptions do not exist at Jobber).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Query,
    Mutation,
}

impl Kind {
    pub(crate) fn root_type(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) alias: Option<String>,
    pub(crate) name: String,
    pub(crate) selection: Vec<Field>,
}

impl Field {
    /// The key of this field in the response.
    pub(crate) fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    pub(crate) kind: Kind,
    pub(crate) fields: Vec<Field>,
}

/// The type of `parent.field`: `Some(None)` for a scalar, `Some(Some(type))` for an object,
/// `None` when the sandbox does not serve it.
pub(crate) fn field_type(parent: &str, field: &str) -> Option<Option<&'static str>> {
    let object = |t| Some(Some(t));
    match (parent, field) {
        (_, "__typename") => Some(None),
        ("Query", "account") => object("Account"),
        ("Account", "id" | "name") => Some(None),
        ("Mutation", "appDisconnect") => object("AppDisconnectPayload"),
        ("AppDisconnectPayload", "app") => object("Application"),
        ("AppDisconnectPayload", "userErrors") => object("MutationErrors"),
        ("Application", "name" | "author") => Some(None),
        ("MutationErrors", "message" | "path") => Some(None),
        _ => None,
    }
}

/// Every reason the operation cannot run, in graphql-ruby's words where it has them.
pub(crate) fn validate(operation: &Operation) -> Vec<String> {
    let mut errors = Vec::new();
    validate_selection(operation.kind.root_type(), &operation.fields, &mut errors);
    errors
}

fn validate_selection(parent: &str, fields: &[Field], errors: &mut Vec<String>) {
    for field in fields {
        match field_type(parent, &field.name) {
            None => errors.push(format!(
                "Field '{}' doesn't exist on type '{parent}' (the sandbox Jobber serves only \
                 account and appDisconnect)",
                field.name
            )),
            Some(None) if !field.selection.is_empty() => errors.push(format!(
                "Selections can't be made on scalars (field '{}' on type '{parent}')",
                field.name
            )),
            Some(Some(ty)) if field.selection.is_empty() => errors.push(format!(
                "Field must have selections (field '{}' returns {ty} but has no selections)",
                field.name
            )),
            Some(Some(ty)) => validate_selection(ty, &field.selection, errors),
            Some(None) => {}
        }
    }
}

/// Reference §2.3: every field costs 1 (`__typename` is free).
pub(crate) fn cost(fields: &[Field]) -> u32 {
    fields
        .iter()
        .filter(|f| f.name != "__typename")
        .map(|f| 1 + cost(&f.selection))
        .sum()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Name(&'a str),
    Punct(char),
    Spread,
    /// A string or number literal: only ever skipped inside arguments.
    Literal,
}

/// Parses a document holding exactly one operation.
pub(crate) fn parse(source: &str) -> Result<Operation, String> {
    let tokens = tokenize(source)?;
    let mut parser = Parser { tokens, pos: 0 };
    let kind = match parser.peek() {
        Some(Token::Punct('{')) => Kind::Query,
        Some(Token::Name("query")) => Kind::Query,
        Some(Token::Name("mutation")) => Kind::Mutation,
        Some(Token::Name("subscription")) => return Err("Subscriptions are not supported".into()),
        Some(Token::Name("fragment")) => {
            return Err("Fragments are not supported by the sandbox Jobber".into())
        }
        _ => return Err("Parse error: expected an operation".into()),
    };
    if parser.peek() != Some(Token::Punct('{')) {
        parser.pos += 1;
        if let Some(Token::Name(_)) = parser.peek() {
            parser.pos += 1;
        }
        if parser.peek() == Some(Token::Punct('(')) {
            parser.skip_parens()?;
        }
    }
    let fields = parser.selection_set()?;
    if parser.peek().is_some() {
        return Err("The sandbox Jobber runs one operation per document; remove the others".into());
    }
    Ok(Operation { kind, fields })
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.peek();
        self.pos += 1;
        token
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        if self.next() != Some(Token::Punct('{')) {
            return Err("Parse error: expected '{'".into());
        }
        let mut fields = Vec::new();
        loop {
            match self.next() {
                Some(Token::Punct('}')) if !fields.is_empty() => return Ok(fields),
                Some(Token::Name(first)) => fields.push(self.field(first)?),
                Some(Token::Spread) => {
                    return Err("Fragments are not supported by the sandbox Jobber".into())
                }
                Some(Token::Punct('@')) => {
                    return Err("Directives are not supported by the sandbox Jobber".into())
                }
                _ => return Err("Parse error: expected a field name".into()),
            }
        }
    }

    fn field(&mut self, first: &str) -> Result<Field, String> {
        let (alias, name) = if self.peek() == Some(Token::Punct(':')) {
            self.pos += 1;
            match self.next() {
                Some(Token::Name(name)) => (Some(first.to_owned()), name.to_owned()),
                _ => return Err("Parse error: expected a field name after the alias".into()),
            }
        } else {
            (None, first.to_owned())
        };
        if self.peek() == Some(Token::Punct('(')) {
            self.skip_parens()?;
        }
        if self.peek() == Some(Token::Punct('@')) {
            return Err("Directives are not supported by the sandbox Jobber".into());
        }
        let selection = if self.peek() == Some(Token::Punct('{')) {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            selection,
        })
    }

    /// Skips a balanced `( … )`, whatever is inside.
    fn skip_parens(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            match self.next() {
                Some(Token::Punct('(')) => depth += 1,
                Some(Token::Punct(')')) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return Err("Parse error: unbalanced '('".into()),
            }
        }
    }
}

fn tokenize(source: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'.' if source[i..].starts_with("...") => {
                tokens.push(Token::Spread);
                i += 3;
            }
            b'"' => {
                i = skip_string(bytes, i)?;
                tokens.push(Token::Literal);
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
                tokens.push(Token::Literal);
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                tokens.push(Token::Name(&source[start..i]));
            }
            b'{' | b'}' | b'(' | b')' | b':' | b'$' | b'!' | b'=' | b'[' | b']' | b'@' | b'|'
            | b'&' => {
                tokens.push(Token::Punct(char::from(b)));
                i += 1;
            }
            _ => return Err(format!("Parse error: unexpected character at offset {i}")),
        }
    }
    Ok(tokens)
}

/// The index after the string literal starting at `start` (block strings included).
fn skip_string(bytes: &[u8], start: usize) -> Result<usize, String> {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i + 3 <= bytes.len() {
            if &bytes[i..i + 3] == b"\"\"\"" {
                return Ok(i + 3);
            }
            i += 1;
        }
        return Err("Parse error: unterminated block string".into());
    }
    let mut i = start + 1;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            b'\n' => break,
            _ => i += 1,
        }
    }
    Err("Parse error: unterminated string".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, selection: Vec<Field>) -> Field {
        Field {
            alias: None,
            name: name.into(),
            selection,
        }
    }

    #[test]
    fn shorthand_named_and_variable_taking_queries_parse_to_the_same_selection() {
        let expected = vec![field(
            "account",
            vec![field("id", vec![]), field("name", vec![])],
        )];
        for source in [
            "{ account { id name } }",
            "query { account { id, name } }",
            "query Account { account { id name } }",
            "query Q($id: EncodedId!, $s: String = \"a)b\") {\n  # comment }\n  account(x: [1, -2.5]) { id name }\n}",
        ] {
            let op = parse(source).unwrap();
            assert_eq!(op.kind, Kind::Query, "{source}");
            assert_eq!(op.fields, expected, "{source}");
            assert!(validate(&op).is_empty(), "{source}");
        }
    }

    #[test]
    fn aliases_are_kept_as_response_keys() {
        let op = parse("{ me: account { accountId: id } }").unwrap();
        assert_eq!(op.fields[0].key(), "me");
        assert_eq!(op.fields[0].selection[0].key(), "accountId");
        assert_eq!(op.fields[0].selection[0].name, "id");
    }

    #[test]
    fn unknown_fields_missing_selections_and_scalar_selections_are_all_reported() {
        let op = parse("{ clients { nodes { id } } account { id { x } } }").unwrap();
        assert_eq!(validate(&op).len(), 2);
        let op = parse("mutation { appDisconnect }").unwrap();
        assert_eq!(validate(&op).len(), 1);
    }

    #[test]
    fn fragments_directives_subscriptions_and_broken_documents_are_refused() {
        for source in [
            "{ account { ...F } }",
            "{ account @include(if: true) { id } }",
            "subscription { x }",
            "{ account { id }",
            "{ }",
            "{ account { id } } { account { id } }",
            "{ account(x: \"open) { id } }",
            "",
        ] {
            assert!(parse(source).is_err(), "{source}");
        }
    }

    #[test]
    fn the_cost_counts_one_per_field() {
        let op = parse("mutation { appDisconnect { app { name author } userErrors { message } } }")
            .unwrap();
        assert_eq!(cost(&op.fields), 6);
        assert_eq!(
            cost(&parse("{ account { id name __typename } }").unwrap().fields),
            3
        );
    }
}
