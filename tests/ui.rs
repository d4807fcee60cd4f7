//! Compile-fail cases for `dataflow!`: one file per structural error (and per closure type
//! error), each with the exact diagnostic rustc prints in the `.stderr` beside it.
//!
//! Re-bless after a deliberate change to a message with
//! `TRYBUILD=overwrite cargo test --test ui`, then read every changed `.stderr`: one error per
//! mistake, pointing at the user's token, with a `help:` line.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
