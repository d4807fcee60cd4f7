//! The DSL's syntax tree, parsed with syn.
//!
//! ```text
//! jobs      := job*
//! job       := attribute* visibility `job` IDENT `(` (IDENT `:` TYPE),* `)` `{` statement* `}`
//! statement := `let` IDENT `=` chain `;` | chain `;`
//! chain     := (source_call | IDENT) (`.` IDENT `(` expr,* `)`)*
//! ```
//! A chain is parsed as an ordinary Rust expression and then taken apart, so closures and
//! other arguments are kept exactly as the user wrote them, spans included.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, parenthesized, Attribute, Expr, Ident, Token, Type, Visibility};

/// Everything inside one `dataflow! { ... }`.
pub struct Jobs {
    pub jobs: Vec<Job>,
}

/// `pub job name(params) { statements }`.
pub struct Job {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub params: Vec<Param>,
    pub statements: Vec<Statement>,
}

/// One job parameter.
pub struct Param {
    pub name: Ident,
    pub ty: Type,
}

/// `let name = chain;` or `chain;`.
pub struct Statement {
    pub binding: Option<Ident>,
    pub chain: ChainExpr,
}

/// A source call or a stream name, followed by method calls.
pub struct ChainExpr {
    pub head: Head,
    pub calls: Vec<Call>,
}

/// Where a chain starts.
pub enum Head {
    /// `generate(..)`, `read_lines(..)`, ... (or an unknown name, reported by the checker).
    Source(Call),
    /// A stream named by an earlier or later `let`.
    Binding(Ident),
}

/// `name(args)`.
#[derive(Clone)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Expr>,
    /// The span of the parentheses, for "wrong number of arguments".
    pub args_span: Span,
}

impl Parse for Jobs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut jobs = Vec::new();
        while !input.is_empty() {
            jobs.push(input.parse()?);
        }
        Ok(Jobs { jobs })
    }
}

impl Parse for Job {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let keyword: Ident = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(e.span(), "expected `job`\nhelp: a dataflow! block holds jobs: `pub job name(param: Type) { ... }`")
        })?;
        if keyword != "job" {
            return Err(syn::Error::new(
                keyword.span(),
                format!("expected `job`, found `{keyword}`\nhelp: a dataflow! block holds jobs: `pub job name(param: Type) {{ ... }}`"),
            ));
        }
        let name: Ident = input.parse()?;
        let content;
        parenthesized!(content in input);
        let params = Punctuated::<Param, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect();
        let body;
        braced!(body in input);
        let mut statements = Vec::new();
        while !body.is_empty() {
            statements.push(body.parse()?);
        }
        Ok(Job {
            attrs,
            vis,
            name,
            params,
            statements,
        })
    }
}

impl Parse for Param {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty: Type = input.parse()?;
        Ok(Param { name, ty })
    }
}

impl Parse for Statement {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let binding = if input.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            Some(name)
        } else {
            None
        };
        let expr: Expr = input.parse()?;
        input.parse::<Token![;]>()?;
        let chain = ChainExpr::from_expr(expr)?;
        Ok(Statement { binding, chain })
    }
}

impl ChainExpr {
    pub(crate) fn from_expr(expr: Expr) -> syn::Result<Self> {
        let mut calls = Vec::new();
        let mut current = expr;
        loop {
            match current {
                Expr::MethodCall(call) => {
                    if let Some(turbofish) = &call.turbofish {
                        return Err(syn::Error::new_spanned(
                            turbofish,
                            "dataflow operators take no type arguments\nhelp: annotate the closure's parameter instead, e.g. `|x: u64| ...`",
                        ));
                    }
                    // `r#where` (see `raw_where`) is the operator `where`.
                    let name = syn::ext::IdentExt::unraw(&call.method);
                    calls.push(Call {
                        name: Ident::new(&name.to_string(), call.method.span()),
                        args: call.args.into_iter().collect(),
                        args_span: call.paren_token.span.join(),
                    });
                    current = *call.receiver;
                }
                Expr::Call(call) => {
                    let name = single_ident(&call.func).ok_or_else(|| {
                        syn::Error::new(call.func.span(), "expected a source such as `generate(..)` or `read_lines(..)`")
                    })?;
                    calls.reverse();
                    let head = Call { name, args: call.args.into_iter().collect(), args_span: call.paren_token.span.join() };
                    return Ok(ChainExpr { head: Head::Source(head), calls });
                }
                Expr::Path(path) => {
                    let name = single_ident(&Expr::Path(path.clone())).ok_or_else(|| {
                        syn::Error::new(path.span(), "expected the name of a stream bound with `let`")
                    })?;
                    calls.reverse();
                    return Ok(ChainExpr { head: Head::Binding(name), calls });
                }
                Expr::Paren(paren) => current = *paren.expr,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "expected a stream: a source call such as `generate(n, |i| i)` or a name bound with `let`, followed by `.operator(..)` calls",
                    ))
                }
            }
        }
    }
}

fn single_ident(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Path(path)
            if path.qself.is_none() && path.path.segments.len() == 1 && path.attrs.is_empty() =>
        {
            let segment = &path.path.segments[0];
            segment.arguments.is_none().then(|| segment.ident.clone())
        }
        _ => None,
    }
}

/// Makes `.where(..)` (a join's key, named as in Flink) parse as a method call: the keyword
/// after a `.` becomes the raw identifier `r#where`, which the chain reads back as `where`.
pub fn raw_where(tokens: TokenStream) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    let mut after_dot = false;
    tokens
        .into_iter()
        .map(|tree| {
            let tree = match tree {
                TokenTree::Ident(ident) if after_dot && ident == "where" => {
                    TokenTree::Ident(Ident::new_raw("where", ident.span()))
                }
                TokenTree::Group(group) => {
                    let mut inner = Group::new(group.delimiter(), raw_where(group.stream()));
                    inner.set_span(group.span());
                    TokenTree::Group(inner)
                }
                other => other,
            };
            after_dot = matches!(&tree, TokenTree::Punct(p) if p.as_char() == '.');
            tree
        })
        .collect()
}

/// Parses the macro input.
pub fn parse(tokens: TokenStream) -> syn::Result<Jobs> {
    syn::parse2(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_jobs_statements_and_chains() {
        let jobs: Jobs = syn::parse_str(
            r#"
            /// Doc.
            pub job a(input: PathBuf, n: u64) {
                let words = read_lines(input).flat_map(|l: String| vec![l]);
                words.key_by(|w| w.clone()).count().print();
            }
            job b() { generate(10, |i| i).discard(); }
            "#,
        )
        .unwrap();
        assert_eq!(jobs.jobs.len(), 2);
        let a = &jobs.jobs[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.params.len(), 2);
        assert_eq!(a.statements.len(), 2);
        assert_eq!(a.statements[0].binding.as_ref().unwrap(), "words");
        match &a.statements[0].chain.head {
            Head::Source(call) => assert_eq!(call.name, "read_lines"),
            Head::Binding(_) => panic!("expected a source"),
        }
        let names: Vec<String> = a.statements[1]
            .chain
            .calls
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        assert_eq!(names, ["key_by", "count", "print"]);
        assert!(matches!(&a.statements[1].chain.head, Head::Binding(b) if b == "words"));
    }

    #[test]
    fn rejects_non_job_items_and_turbofish() {
        assert!(syn::parse_str::<Jobs>("fn f() {}").is_err());
        assert!(
            syn::parse_str::<Jobs>("job a() { generate(1, |i| i).map::<u8>(|x| x).print(); }")
                .is_err()
        );
    }
}
