//! `dataflow!`: the DSL compiler of the `dataflow` stream processing engine.
//!
//! The macro is a small compiler with one stage per module:
//! `parse` (syn syntax tree) -> `graph` (logical graph) -> `check` (structural errors,
//! each at the user's token with a help line) -> `plan` (chains and exchanges) ->
//! `emit` (the job's module). The operator table in `ops` drives every stage.
//! Each stage is a plain function over data, unit-tested without rustc.

mod check;
mod emit;
mod graph;
mod ops;
mod parse;
mod plan;

use proc_macro::TokenStream;

/// Defines one or more jobs; see the `dataflow` crate for the language.
#[proc_macro]
pub fn dataflow(input: TokenStream) -> TokenStream {
    compile(input.into()).into()
}

fn compile(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let jobs = match parse::parse(parse::raw_where(input)) {
        Ok(jobs) => jobs,
        Err(error) => return error.to_compile_error(),
    };
    let mut out = proc_macro2::TokenStream::new();
    for job in &jobs.jobs {
        match compile_job(job) {
            Ok(tokens) => out.extend(tokens),
            Err(errors) => {
                for error in errors {
                    out.extend(error.to_compile_error());
                }
                out.extend(emit::stub_job(job));
            }
        }
    }
    out
}

fn compile_job(job: &parse::Job) -> Result<proc_macro2::TokenStream, Vec<syn::Error>> {
    check::check_job(job)?;
    let graph = graph::build(job)?;
    let order = check::check_graph(&graph)?;
    let plan = plan::plan(&graph, &order);
    Ok(emit::emit_job(job, &graph, &plan))
}
