#![doc = include_str!("../README.md")]

// The jobs of this crate (`nexmark`) expand to paths through `::dataflow`.
extern crate self as dataflow;

pub use dataflow_macros::dataflow;
pub use dataflow_runtime as runtime;
pub use dataflow_runtime::{Error, Result};

pub mod graphs;
pub mod nexmark;

/// What a job file needs: `use dataflow::prelude::*;`.
pub mod prelude {
    pub use crate::dataflow;
    pub use dataflow_runtime::element::Timestamp;
    pub use dataflow_runtime::io::Collected;
    pub use dataflow_runtime::job::{ExecutionMode, JobCanceller, JobConfig, JobReport};
    pub use dataflow_runtime::join::{
        interval_join_late_first, interval_join_late_second, JoinHint, JoinStrategy,
    };
    pub use dataflow_runtime::operator::{
        CoProcessFunction, Context, KeyedBroadcastProcessFunction, KeyedCoProcessFunction,
        KeyedContext, KeyedProcessFunction, OutputTag, ProcessFunction,
    };
    pub use dataflow_runtime::spill::SpillConfig;
    pub use dataflow_runtime::state::{ListState, MapState, ValueState};
    pub use dataflow_runtime::time::{TimeDomain, WatermarkGenerator, WatermarkStrategy};
    pub use dataflow_runtime::window::{
        late_data, AggregateFunction, ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger,
        CountEvictor, CountTrigger, EventTimeSessionWindows, EventTimeTrigger, Evictor,
        GlobalWindows, ProcessingTimeSessionWindows, ProcessingTimeTrigger, PurgingTrigger,
        Records, SlidingEventTimeWindows, SlidingProcessingTimeWindows, TimeEvictor, Trigger,
        TriggerContext, TriggerResult, TumblingEventTimeWindows, TumblingProcessingTimeWindows,
        Window,
    };
    pub use std::path::PathBuf;
    pub use std::time::Duration;
}
