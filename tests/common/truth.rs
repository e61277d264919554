//! The truth a target prints about itself (its heap, threads and frames, computed in-process),
//! parsed from its JSON line.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct Truth {
    pub pid: i64,
    pub version: String,
    pub threads: Vec<TruthThread>,
    pub own_types: BTreeMap<String, CountBytes>,
    pub types: BTreeMap<String, CountBytes>,
    pub total_objects: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct TruthThread {
    pub thread_id: u64,
    pub native_id: Option<i64>,
    pub name: String,
    pub frames: Vec<TruthFrame>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct TruthFrame {
    pub function: String,
    pub filename: String,
    pub line: i64,
}

#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountBytes {
    pub count: u64,
    pub bytes: u64,
}
