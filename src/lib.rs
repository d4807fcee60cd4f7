pub use dataflow_macros::dataflow;
